-- The Executive summary's action items as a live list, as of the as-of moment: one row per item that needs someone
-- now. Four kinds (thresholds in seed alert_thresholds):
--   'High-priority lead waiting' — priority high, open (status not won or lost, no won or lost deal by the as-of
--     moment), no person has touched it by the as-of moment (an automated message does not end the wait, D13), and
--     waiting longer than high_priority_wait_hours but not longer than high_priority_wait_max_days (D189);
--   'High-priority backlog' — one row counting the leads that would be listed but have waited longer than
--     high_priority_wait_max_days: no longer an action for today, still a number on the page (D189);
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
        max(case when alert = 'high_priority_wait_max_days' then threshold end) as wait_max_days,
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

open_high_priority as (
    -- D13: a person's touch ends the wait, an automated one does not; everything judged at the as-of moment
    select
        journeys.lead_id,
        journeys.location_name,
        journeys.source,
        journeys.organization_name,
        journeys.created_at,
        extract(epoch from as_of.as_of_at - journeys.created_at) / 3600.0 as waiting_hours,
        coalesce(journeys.first_automated_at <= as_of.as_of_at, false) as has_automated_touch,
        as_of.as_of_at - journeys.created_at > thresholds.wait_max_days * interval '1 day' as is_past_cap
    from journeys
    cross join as_of
    cross join thresholds
    where journeys.priority = 'high'
        and coalesce(journeys.status, '') not in ('won', 'lost')
        and coalesce(journeys.closed_at > as_of.as_of_at, true)
        and coalesce(journeys.lost_at > as_of.as_of_at, true)
        and coalesce(journeys.first_manual_touch_at > as_of.as_of_at, true)
        and journeys.created_at <= as_of.as_of_at
        and as_of.as_of_at - journeys.created_at > thresholds.wait_hours * interval '1 hour'
),

waiting as (
    select
        'lead|' || lead_id as action_item_key,
        'High-priority lead waiting' as kind,
        1 as kind_order,
        lead_id || ' (' || coalesce(location_name, 'no location') || ', '
        || coalesce(source, 'no source') || ')' as subject,
        'waiting ' || round(waiting_hours, 1) || ' h without a person''s touch'
        || case when has_automated_touch then ' (automated message only)' else '' end as detail,
        organization_name,
        {{ reporting_date('created_at') }} as since_date,
        round(waiting_hours, 1) as waiting_hours,
        1::bigint as lead_count
    from open_high_priority
    where not is_past_cap
),

backlog as (
    -- one row, only when there is such a lead: the count stays visible without listing each one (D189)
    select
        'lead-backlog' as action_item_key,
        'High-priority backlog' as kind,
        1 as kind_order,
        count(*) || ' high-priority lead(s) waiting over ' || max(thresholds.wait_max_days) || ' days' as subject,
        'not listed one by one; the oldest has waited ' || round(max(open_high_priority.waiting_hours), 1)
        || ' h' as detail,
        null as organization_name,
        min({{ reporting_date('open_high_priority.created_at') }}) as since_date,
        round(max(open_high_priority.waiting_hours), 1) as waiting_hours,
        count(*) as lead_count
    from open_high_priority
    cross join thresholds
    where open_high_priority.is_past_cap
    having count(*) > 0
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
        compared.iso_week_start as since_date,
        null::numeric as waiting_hours,
        null::bigint as lead_count
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
        target_status.month_start as since_date,
        null::numeric as waiting_hours,
        null::bigint as lead_count
    from target_status
    cross join as_of
    where target_status.status = 'At risk'
        and target_status.month_start = date_trunc('month', as_of.as_of_date)::date
),

final as (
    select * from waiting
    union all
    select * from backlog
    union all
    select * from conversion_drop
    union all
    select * from at_risk
)

select * from final
