-- The client's own lead KPIs beside the benchmark of its industry (seed industry_benchmarks, industry per
-- organisation from seed client_industries; s001.custom_industry_kpis), per organisation and local calendar month of
-- lead creation (the lead cohort, D09): average lead response time in minutes (answered leads), lead-to-appointment
-- and lead-to-close rates (D11). Numerator and denominator are kept so any selection of months is one ratio.
-- Grain: organization_name, month_start, metric.
with

journeys as (
    select * from {{ ref('int_crm__lead_journeys') }}
),

industries as (
    select * from {{ ref('client_industries') }}
),

benchmarks as (
    select * from {{ ref('industry_benchmarks') }}
),

calendar as (
    select * from {{ ref('dim_calendar') }}
),

cohorts as (
    select
        journeys.organization_name,
        calendar.month_start,
        sum(journeys.lead_response_seconds) / 60.0 as response_minutes,
        count(journeys.lead_response_seconds) as responded_leads,
        count(*) filter (where journeys.has_appointment) as appointment_leads,
        count(*) filter (where journeys.is_won) as won_leads,
        count(*) as leads
    from journeys
    inner join calendar on journeys.created_date = calendar.calendar_date
    group by journeys.organization_name, calendar.month_start
),

own as (
    select
        cohorts.organization_name,
        cohorts.month_start,
        kpis.metric,
        kpis.own_numerator,
        kpis.own_denominator
    from cohorts
    cross join lateral (
        values
        ('lead_response_time_avg_minutes', cohorts.response_minutes, cohorts.responded_leads::numeric),
        ('lead_to_appointment_rate', cohorts.appointment_leads::numeric, cohorts.leads::numeric),
        ('lead_to_close_rate', cohorts.won_leads::numeric, cohorts.leads::numeric)
    ) as kpis (metric, own_numerator, own_denominator)
),

final as (
    select
        concat_ws('|', own.organization_name, own.month_start, own.metric) as benchmark_row_key,
        own.organization_name,
        own.month_start,
        coalesce(industries.industry, 'not set') as industry,
        own.metric,
        case own.metric
            when 'lead_response_time_avg_minutes' then 'Lead response time, average (minutes)'
            when 'lead_to_appointment_rate' then 'Lead-to-appointment rate'
            else 'Lead-to-close rate'
        end as metric_label,
        benchmarks.unit,
        own.own_numerator,
        own.own_denominator,
        benchmarks.benchmark_value,
        benchmarks.source as benchmark_source
    from own
    left join industries on own.organization_name = industries.organization_name
    left join benchmarks on industries.industry = benchmarks.industry and own.metric = benchmarks.metric
)

select * from final
