-- One row per CRM lead with its journey: location and organisation, score band, first touch (lead response time
-- in wall-clock seconds and in business seconds of the lead's location, D10), the assigned agent's first touch
-- (agent response time, D10), the first manual touch by anyone (D13), outbound touches, first appointment (D11), the
-- won deal (D11, D17) with its derived attribution class and weight (D102, seed attribution_weights), and the
-- organisation's go-live (D26).
-- Shared by the Lead analytics, Agent performance and ROI marts; every timestamp is UTC, every *_date the
-- reporting-time-zone local date (the shared calendar's).
with

leads as (
    select * from {{ ref('stg_crm__leads') }}
),

locations as (
    select * from {{ ref('stg_crm__locations') }}
),

activities as (
    select * from {{ ref('stg_crm__activities') }}
),

workflow_events as (
    select * from {{ ref('stg_crm__workflow_events') }}
),

appointments as (
    select * from {{ ref('stg_crm__appointments') }}
),

deals as (
    select * from {{ ref('stg_crm__deals') }}
),

weights as (
    select * from {{ ref('attribution_weights') }}
),

go_live as (
    select * from {{ ref('int_crm__go_live') }}
),

won_deals as (
    -- a lead's close is its first won deal (by close time, then id); a second won deal is not a second close
    select
        *,
        row_number() over (partition by lead_id order by closed_at, deal_id) as won_rank
    from deals
    where status = 'won'
),

first_won as (
    select * from won_deals
    where won_rank = 1
),

lost_deals as (
    select
        lead_id,
        min(closed_at) as lost_at
    from deals
    where status = 'lost'
    group by 1
),

outbound as (
    select
        activities.*,
        row_number() over (partition by activities.lead_id order by activities.occurred_at, activities.activity_id)
            as touch_rank
    from activities
    inner join leads on activities.lead_id = leads.lead_id
    where activities.direction = 'outbound'
        and activities.occurred_at >= leads.created_at
),

first_touch as (
    select
        lead_id,
        occurred_at as first_touch_at,
        is_automated as first_touch_automated,
        channel as first_touch_channel
    from outbound
    where touch_rank = 1
),

automation as (
    select
        lead_id,
        min(occurred_at) filter (where is_automated) as first_automated_at
    from activities
    group by 1
),

first_manual as (
    -- a person's first outbound touch, whoever made it: what ends a high-priority lead's wait (D13)
    select
        lead_id,
        min(occurred_at) as first_manual_touch_at
    from outbound
    where not is_automated
    group by 1
),

workflow as (
    select
        lead_id,
        min(occurred_at) as first_workflow_event_at,
        min(occurred_at) filter (where step = 'routing' and status = 'success') as routed_at
    from workflow_events
    where lead_id is not null
    group by 1
),

agent_touch as (
    -- the assigned agent's first outbound touch at or after the assignment (agent response, D10)
    select
        leads.lead_id,
        min(outbound.occurred_at) as first_agent_touch_at
    from leads
    inner join outbound
        on leads.lead_id = outbound.lead_id
            and leads.assigned_agent_id = outbound.agent_id
            and not outbound.is_automated
            and leads.assigned_at <= outbound.occurred_at
    group by 1
),

touch_counts as (
    -- outbound touches up to the lead's close (won or lost deal), or all of them while it is open: touches after
    -- the outcome cannot have caused it (follow-up effectiveness, D25)
    select
        outbound.lead_id,
        count(*) as outbound_touches,
        count(*) filter (where outbound.is_automated) as automated_touches,
        count(*) filter (where not outbound.is_automated) as manual_touches,
        min(outbound.occurred_at) filter (
            where not outbound.is_automated and outbound.occurred_at > automation.first_automated_at
        ) as first_manual_after_automation_at
    from outbound
    left join first_won on outbound.lead_id = first_won.lead_id
    left join lost_deals on outbound.lead_id = lost_deals.lead_id
    left join automation on outbound.lead_id = automation.lead_id
    where outbound.occurred_at <= coalesce(first_won.closed_at, lost_deals.lost_at, 'infinity'::timestamptz)
    group by 1
),

first_appointment as (
    select
        lead_id,
        min(created_at) as first_appointment_at,
        count(*) as appointments
    from appointments
    group by 1
),

joined as (
    select
        leads.lead_id,
        locations.organization_name,
        leads.location_id,
        locations.location_name,
        locations.timezone as location_timezone,
        leads.source,
        leads.score,
        case
            when leads.score is null then 'unscored'
            when leads.score >= 80 then 'hot'
            when leads.score >= 40 then 'warm'
            else 'cold'
        end as score_band,
        -- score decile of the 0-100 scale (0 = 0-9 .. 9 = 90-100) for the calibration add-on; least() would skip a null
        case when leads.score is not null then least(floor(leads.score / 10.0), 9)::integer end as score_decile,
        leads.priority,
        leads.status,
        leads.created_at,
        {{ reporting_date('leads.created_at') }} as created_date,
        leads.assigned_agent_id,
        leads.assigned_at,
        first_touch.first_touch_at,
        first_touch.first_touch_automated,
        first_touch.first_touch_channel,
        extract(epoch from first_touch.first_touch_at - leads.created_at)::bigint as lead_response_seconds,
        {{ crm_business_seconds('leads.created_at', 'first_touch.first_touch_at', 'leads.location_id',
                                'locations.timezone') }}::bigint as lead_response_business_seconds,
        workflow.routed_at,
        agent_touch.first_agent_touch_at,
        first_manual.first_manual_touch_at,
        extract(epoch from agent_touch.first_agent_touch_at - leads.assigned_at)::bigint as agent_response_seconds,
        {{ crm_business_seconds('leads.assigned_at', 'agent_touch.first_agent_touch_at', 'leads.location_id',
                                'locations.timezone') }}::bigint as agent_response_business_seconds,
        coalesce(touch_counts.outbound_touches, 0) as outbound_touches,
        coalesce(touch_counts.automated_touches, 0) as automated_touches,
        coalesce(touch_counts.manual_touches, 0) as manual_touches,
        automation.first_automated_at,
        workflow.first_workflow_event_at,
        (automation.first_automated_at is not null or workflow.first_workflow_event_at is not null) as in_system,
        first_appointment.lead_id is not null as has_appointment,
        coalesce(first_appointment.appointments, 0) as appointments,
        first_appointment.first_appointment_at,
        first_won.deal_id is not null as is_won,
        first_won.deal_id as won_deal_id,
        first_won.value as won_value_usd,
        first_won.closed_at,
        {{ reporting_date('first_won.closed_at') }} as closed_date,
        first_won.close_channel,
        first_won.attribution_type as crm_attribution_type,
        lost_deals.lost_at,
        touch_counts.first_manual_after_automation_at,
        go_live.go_live_date
    from leads
    left join locations on leads.location_id = locations.location_id
    left join first_touch on leads.lead_id = first_touch.lead_id
    left join workflow on leads.lead_id = workflow.lead_id
    left join agent_touch on leads.lead_id = agent_touch.lead_id
    left join first_manual on leads.lead_id = first_manual.lead_id
    left join touch_counts on leads.lead_id = touch_counts.lead_id
    left join automation on leads.lead_id = automation.lead_id
    left join first_appointment on leads.lead_id = first_appointment.lead_id
    left join first_won on leads.lead_id = first_won.lead_id
    left join lost_deals on leads.lead_id = lost_deals.lead_id
    left join go_live on locations.organization_name = go_live.organization_name
),

classified as (
    select
        *,
        -- D102, first rule that holds; only a won deal has a class
        case
            when not is_won then null
            when in_system and close_channel = 'other' then 'influenced'
            when first_manual_after_automation_at is not null then 'assisted'
            when first_automated_at is not null then 'direct'
            else 'none'
        end as attribution_class,
        -- D25 buckets of the lead response time; never answered is its own bucket
        case
            when lead_response_seconds is null then 'never'
            when lead_response_seconds < 60 then '< 1 min'
            when lead_response_seconds < 300 then '1-5 min'
            when lead_response_seconds < 3600 then '5-60 min'
            when lead_response_seconds < 86400 then '1-24 h'
            else '> 24 h'
        end as response_time_bucket,
        case
            when lead_response_seconds is null then 6
            when lead_response_seconds < 60 then 1
            when lead_response_seconds < 300 then 2
            when lead_response_seconds < 3600 then 3
            when lead_response_seconds < 86400 then 4
            else 5
        end as response_time_bucket_order,
        coalesce(created_date >= go_live_date, false) as after_go_live
    from joined
),

final as (
    select
        classified.*,
        weights.weight as attribution_weight,
        classified.won_value_usd * weights.weight as attributed_value_usd,
        classified.first_touch_at is not null as is_responded,
        (
            classified.crm_attribution_type is distinct from nullif(classified.attribution_class, 'none')
            and classified.is_won
        ) as attribution_label_differs
    from classified
    left join weights on classified.attribution_class = weights.class
)

select * from final
