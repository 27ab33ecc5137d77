-- Lead-to-appointment rate per organisation over the 7 local days before the evaluation against the 7 days
-- before those (D15: a relative drop, both windows with at least 20 leads so one lead does not swing it).
with

leads as (
    select * from marts.fct_crm_leads
),

evaluated as (
    select (%(as_of)s::timestamptz at time zone %(timezone)s)::date as today
),

windows as (
    select
        l.organization_name,
        count(*) filter (where l.created_date >= e.today - 7) as leads_now,
        count(*) filter (where l.created_date >= e.today - 7 and l.has_appointment) as converted_now,
        count(*) filter (where l.created_date < e.today - 7) as leads_before,
        count(*) filter (where l.created_date < e.today - 7 and l.has_appointment) as converted_before
    from leads as l
    cross join evaluated as e
    where l.created_date between e.today - 14 and e.today - 1
    group by l.organization_name
),

rates as (
    select
        organization_name,
        converted_now::numeric / nullif(leads_now, 0) as rate_now,
        converted_before::numeric / nullif(leads_before, 0) as rate_before
    from windows
    where leads_now >= 20 and leads_before >= 20 and converted_before > 0
),

final as (
    select
        organization_name as subject,
        round(100 * (1 - rate_now / rate_before), 1) as value,
        'lead-to-appointment rate ' || round(100 * rate_now, 1) || ' pct over the last 7 days against '
        || round(100 * rate_before, 1) || ' pct the 7 days before' as detail
    from rates
    where 100 * (1 - rate_now / rate_before) > %(threshold)s
)

select * from final
