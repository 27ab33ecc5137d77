-- One row per outbound touch (contact attempt) of a CRM lead, automated or by an agent: its channel, its local
-- weekday and hour at the lead's location (D25 as decided: the lead's clock, not the reporting zone's), whether
-- the lead answered within 72 hours, and its position-based credit (40/20/40) when it preceded the lead's close
-- (D117, the multi-touch add-on beside the 90/50/25 rule).
with

activities as (
    select * from {{ ref('stg_crm__activities') }}
),

leads as (
    select * from {{ ref('fct_crm_leads') }}
),

outbound as (
    select
        activities.activity_id,
        activities.lead_id,
        activities.channel,
        activities.is_automated,
        activities.occurred_at,
        leads.organization_name,
        leads.location_name,
        leads.location_timezone,
        leads.source,
        leads.agent_name,
        leads.is_won,
        leads.won_value_usd,
        leads.closed_at,
        row_number() over (partition by activities.lead_id order by activities.occurred_at, activities.activity_id)
            as touch_number
    from activities
    inner join leads on activities.lead_id = leads.lead_id
    where activities.direction = 'outbound'
        and activities.occurred_at >= leads.created_at
),

answered as (
    -- an inbound activity of the same lead, on any channel, within 72 h after the touch (D25 as decided)
    select distinct outbound.activity_id
    from outbound
    inner join activities as inbound
        on outbound.lead_id = inbound.lead_id
            and inbound.direction = 'inbound'
            and outbound.occurred_at < inbound.occurred_at
            and inbound.occurred_at <= outbound.occurred_at + interval '72 hours'
),

before_close as (
    select
        activity_id,
        row_number() over (partition by lead_id order by occurred_at, activity_id) as touch_position,
        count(*) over (partition by lead_id) as touches_before_close
    from outbound
    where is_won and occurred_at <= closed_at
),

weighted as (
    select
        activity_id,
        touch_position,
        touches_before_close,
        case
            when touches_before_close = 1 then 1.0
            when touches_before_close = 2 then 0.5
            when touch_position in (1, touches_before_close) then 0.4
            else round(0.2 / (touches_before_close - 2), 6)
        end as position_weight
    from before_close
),

final as (
    select
        outbound.activity_id,
        outbound.lead_id,
        outbound.channel,
        case outbound.channel when 'sms' then 'SMS' when 'email' then 'E-mail' else 'Phone' end as channel_label,
        outbound.is_automated,
        case when outbound.is_automated then 'Automation' else 'Agent' end as touch_by,
        outbound.touch_number,
        outbound.occurred_at,
        {{ reporting_date('outbound.occurred_at') }} as occurred_date,
        (outbound.occurred_at at time zone outbound.location_timezone) as occurred_at_location,
        extract(isodow from outbound.occurred_at at time zone outbound.location_timezone)::integer as local_weekday,
        trim(to_char(outbound.occurred_at at time zone outbound.location_timezone, 'Dy')) as local_weekday_name,
        extract(hour from outbound.occurred_at at time zone outbound.location_timezone)::integer as local_hour,
        answered.activity_id is not null as is_answered,
        outbound.organization_name,
        outbound.location_name,
        outbound.source,
        outbound.agent_name,
        weighted.touch_position as position_before_close,
        weighted.touches_before_close,
        -- the middle weight is rounded for display; fct_crm_attribution sums the automation's share exactly
        weighted.position_weight,
        outbound.won_value_usd * weighted.position_weight as position_credit_usd
    from outbound
    left join answered on outbound.activity_id = answered.activity_id
    left join weighted on outbound.activity_id = weighted.activity_id
)

select * from final
