-- Automated units per local calendar month and unit type, valued in manual minutes from seed
-- roi_time_savings_assumptions (D21 as decided in D131). A unit is a successful workflow step event (a failed attempt
-- that was retried counts once, on its success) or an automated outbound activity. first_response and nurture steps
-- carry 0 minutes in the seed because the messages they send are counted as activities: nothing is counted twice.
-- Grain: month_start, unit_type.
with

workflow_events as (
    select * from {{ ref('stg_crm__workflow_events') }}
),

activities as (
    select * from {{ ref('stg_crm__activities') }}
),

assumptions as (
    select * from {{ ref('roi_time_savings_assumptions') }}
),

calendar as (
    select * from {{ ref('dim_calendar') }}
),

units as (
    select
        'workflow:' || workflow_events.step as unit_type,
        {{ reporting_date('workflow_events.occurred_at') }} as unit_date
    from workflow_events
    where workflow_events.status = 'success'
    union all
    select
        'activity:' || activities.channel as unit_type,
        {{ reporting_date('activities.occurred_at') }} as unit_date
    from activities
    where activities.is_automated and activities.direction = 'outbound'
),

counted as (
    select
        calendar.month_start,
        units.unit_type,
        count(*) as units
    from units
    inner join calendar on units.unit_date = calendar.calendar_date
    group by calendar.month_start, units.unit_type
),

final as (
    select
        counted.month_start,
        counted.unit_type,
        counted.units,
        assumptions.manual_minutes_saved,
        counted.units * assumptions.manual_minutes_saved as minutes_saved
    from counted
    -- an inner join would silently drop a unit type the seed does not know; the model's test refuses it instead
    left join assumptions on counted.unit_type = assumptions.unit_type
)

select * from final
