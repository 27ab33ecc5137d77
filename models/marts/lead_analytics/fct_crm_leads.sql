{{ config(indexes=[{'columns': ['created_date']}]) }}
-- One row per CRM lead (seed 001 Lead analytics): the journey of int_crm__lead_journeys with the labels the cards
-- group by (agent, touch-count and response-time buckets, before/after go-live) and the as-of windows of the
-- revenue forecast. Every rate is a cohort of leads by their arrival date (D09, D23); nothing is filtered out,
-- whatever its age (D53: 24 months of detail and more are kept).
with

journeys as (
    select * from {{ ref('int_crm__lead_journeys') }}
),

agents as (
    select * from {{ ref('stg_crm__agents') }}
),

as_of as (
    select * from {{ ref('dim_as_of') }}
),

final as (
    select
        journeys.lead_id,
        journeys.organization_name,
        journeys.location_id,
        journeys.location_name,
        journeys.location_timezone,
        journeys.source,
        journeys.assigned_agent_id,
        coalesce(agents.name, 'Unassigned') as agent_name,
        journeys.score,
        journeys.score_band,
        case journeys.score_band when 'hot' then 1 when 'warm' then 2 when 'cold' then 3 else 4 end
            as score_band_order,
        journeys.score_decile,
        case when journeys.score_decile is null then 'unscored'
            else (journeys.score_decile * 10)::text
                || '-'
                || (journeys.score_decile * 10 + case when journeys.score_decile = 9 then 10 else 9 end)::text
        end as score_decile_label,
        journeys.priority,
        journeys.created_at,
        {{ to_reporting_tz('journeys.created_at') }} as created_at_local,
        journeys.created_date,
        journeys.is_responded,
        journeys.first_touch_at,
        journeys.first_touch_automated,
        coalesce(journeys.first_touch_automated, false) as is_automated_response,
        journeys.first_touch_channel,
        journeys.lead_response_seconds,
        journeys.lead_response_business_seconds,
        journeys.response_time_bucket,
        journeys.response_time_bucket_order,
        journeys.agent_response_seconds,
        journeys.agent_response_business_seconds,
        journeys.outbound_touches,
        journeys.automated_touches,
        journeys.manual_touches,
        case when journeys.outbound_touches >= 6 then '6+' else journeys.outbound_touches::text end
            as touch_count_bucket,
        least(journeys.outbound_touches, 6) as touch_count_order,
        journeys.in_system,
        journeys.has_appointment,
        journeys.first_appointment_at,
        journeys.is_won,
        journeys.won_deal_id,
        journeys.won_value_usd,
        journeys.closed_at,
        journeys.closed_date,
        journeys.close_channel,
        journeys.attribution_class,
        journeys.attribution_weight,
        journeys.attributed_value_usd,
        journeys.crm_attribution_type,
        journeys.attribution_label_differs,
        journeys.lost_at,
        journeys.go_live_date,
        journeys.after_go_live,
        case when journeys.after_go_live then 'After go-live' else 'Before go-live' end as go_live_period,
        -- revenue forecast windows (D116), from the as-of date: the open pipeline is the last 90 days' leads
        -- without a won or lost deal; the trailing cohort the leads of days 91-180 before, old enough to have closed
        (
            journeys.created_date between as_of.as_of_date - 89 and as_of.as_of_date
            and not journeys.is_won and journeys.lost_at is null
        ) as is_open_pipeline,
        journeys.created_date between as_of.as_of_date - 179 and as_of.as_of_date - 90 as is_trailing_cohort
    from journeys
    left join agents on journeys.assigned_agent_id = agents.agent_id
    cross join as_of
    where journeys.created_at <= as_of.as_of_at
)

select * from final
