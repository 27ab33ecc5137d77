-- D14: per organisation, the lead-to-appointment rate of the latest ISO week whose leads have all had 7 days
-- (appointments within 7 days of arrival), against the mean weekly rate of the 4 weeks before it; fires on a
-- relative drop above the threshold (percent) when the week has at least 30 leads.
with

leads as (
    select * from marts.fct_crm_leads
),

evaluated as (
    select
        date_trunc('week', (%(as_of)s::timestamptz at time zone %(timezone)s)::date - 7)::date - 7 as cohort_week
),

weekly as (
    select
        l.organization_name,
        date_trunc('week', l.created_date)::date as week_start,
        count(*) as leads,
        count(*) filter (
            where l.first_appointment_at is not null and l.first_appointment_at <= l.created_at + interval '7 days'
        ) as appointments
    from leads as l
    cross join evaluated as e
    where l.created_date between e.cohort_week - 28 and e.cohort_week + 6
    group by l.organization_name, date_trunc('week', l.created_date)
),

compared as (
    select
        w.organization_name,
        max(w.leads) filter (where w.week_start = e.cohort_week) as cohort_leads,
        max(w.appointments::numeric / w.leads) filter (where w.week_start = e.cohort_week) as cohort_rate,
        avg(w.appointments::numeric / w.leads) filter (where w.week_start < e.cohort_week) as baseline_rate
    from weekly as w
    cross join evaluated as e
    group by w.organization_name
),

final as (
    select
        organization_name as subject,
        round(100 * (1 - cohort_rate / baseline_rate), 1) as value,
        'lead-to-appointment rate ' || round(100 * cohort_rate, 1) || ' pct for the leads of the week of '
        || to_char(e.cohort_week, 'DD Mon YYYY') || ' against ' || round(100 * baseline_rate, 1)
        || ' pct over the 4 weeks before' as detail
    from compared
    cross join evaluated as e
    where cohort_leads >= 30 and baseline_rate > 0 and 100 * (1 - cohort_rate / baseline_rate) > %(threshold)s
)

select * from final
