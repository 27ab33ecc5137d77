-- The Executive summary's action items as a live list, as of the as-of moment: one row per item that needs someone
-- now. Three kinds (thresholds in seed alert_thresholds):
--   'High-priority lead waiting' — priority high, not yet touched (no outbound activity), not won or lost, and
--     waiting longer than the threshold since it arrived (D13);
--   'Conversion drop' — the lead-to-appointment rate of the last completed ISO week's cohort (appointments within
--     7 days of arrival) below (1 - threshold) × the mean of the 4 weeks before, with at least the minimum leads
--     in the week (D14);
--   'Target at risk' — a target of the as-of month whose status is At risk (D15 as decided in D135).
-- Grain: action_item_key.
with

journeys as (
    select * from {{ ref('int_crm__lead_journeys') }}
),

target_status as (
    select * from {{ ref('fct_kpi_target_status') }}
),

alert_thresholds as (
    select * from {{ ref('alert_thresholds') }}
),

thresholds as (
    select
        max(case when alert = 'high_priority_wait_hours' then threshold end) as wait_hours,
        max(case when alert = 'conversion_drop_relative' then threshold end) as drop_relative,
        max(case when alert = 'conversion_drop_min_leads' then threshold end) as min_leads
    from alert_thresholds
),

calendar as (
    select * from {{ ref('dim_calendar') }}
),

as_of as (
    select * from {{ ref('dim_as_of') }}
),

waiting as (
    select
        'lead|' || journeys.lead_id as action_item_key,
        'High-priority lead waiting' as kind,
        1 as kind_order,
        journeys.lead_id || ' (' || coalesce(journeys.location_name, 'no location') || ', '
        || coalesce(journeys.source, 'no source') || ')' as subject,
        'waiting ' || round(extract(epoch from as_of.as_of_at - journeys.created_at) / 3600.0, 1)
        || ' h without a touch' as detail,
        journeys.organization_name,
        {{ reporting_date('journeys.created_at') }} as since_date
    from journeys
    cross join as_of
    cross join thresholds
    where journeys.priority = 'high'
        and journeys.first_touch_at is null
        and coalesce(journeys.status, '') not in ('won', 'lost')
        and journeys.created_at <= as_of.as_of_at
        and as_of.as_of_at - journeys.created_at > thresholds.wait_hours * interval '1 hour'
),

weekly as (
    select
        calendar.iso_week_start,
        count(*) as leads,
        count(*) filter (
            where journeys.first_appointment_at < journeys.created_at + interval '7 days'
        ) as appointments_in_7_days
    from journeys
    inner join calendar on journeys.created_date = calendar.calendar_date
    group by calendar.iso_week_start
),

last_week as (
    select (date_trunc('week', as_of_date) - interval '7 days')::date as iso_week_start from as_of
),

compared as (
    select
        weekly.iso_week_start,
        weekly.leads,
        weekly.appointments_in_7_days::numeric / weekly.leads as rate,
        (
            select sum(earlier.appointments_in_7_days)::numeric / nullif(sum(earlier.leads), 0)
            from weekly as earlier
            where earlier.iso_week_start between weekly.iso_week_start - 28 and weekly.iso_week_start - 7
        ) as baseline_rate
    from weekly
    inner join last_week on weekly.iso_week_start = last_week.iso_week_start
),

conversion_drop as (
    select
        'conversion|' || compared.iso_week_start as action_item_key,
        'Conversion drop' as kind,
        2 as kind_order,
        'Lead-to-appointment, week of ' || to_char(compared.iso_week_start, 'YYYY-MM-DD') as subject,
        round(compared.rate * 100, 1) || ' % against ' || round(compared.baseline_rate * 100, 1)
        || ' % in the 4 weeks before (' || compared.leads || ' leads)' as detail,
        null as organization_name,
        compared.iso_week_start as since_date
    from compared
    cross join thresholds
    where compared.leads >= thresholds.min_leads
        and compared.rate < (1 - thresholds.drop_relative) * compared.baseline_rate
),

at_risk as (
    select
        'target|' || target_status.target_status_key as action_item_key,
        'Target at risk' as kind,
        3 as kind_order,
        target_status.metric_label || ' — ' || target_status.agent_name as subject,
        coalesce(target_status.actual_text, '—') || ' so far, projected '
        || coalesce({{ format_kpi_value('target_status.projected', 'target_status.unit') }}, '—')
        || ' against a target of ' || target_status.target_text as detail,
        null as organization_name,
        target_status.month_start as since_date
    from target_status
    cross join as_of
    where target_status.status = 'At risk'
        and target_status.month_start = date_trunc('month', as_of.as_of_date)::date
),

final as (
    select * from waiting
    union all
    select * from conversion_drop
    union all
    select * from at_risk
)

select * from final
