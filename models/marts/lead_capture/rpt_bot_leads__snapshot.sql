-- Additive lead-capture counts relative to the as-of moment, at the grain
-- source x bot type x service needed, so dashboard filters on those three can sum any subset.
-- Ratios (growth, averages) are computed from these sums, never averaged.
with

leads as (
    select * from {{ ref('fct_bot_leads') }}
),

as_of as (
    select
        {{ as_of_timestamp() }} as as_of_at,
        {{ reporting_date(as_of_timestamp()) }} as as_of_date
),

windows as (
    select
        as_of_at,
        as_of_date,
        date_trunc('month', as_of_date)::date as month_start,
        (date_trunc('month', as_of_date) - interval '1 month')::date as previous_month_start,
        -- the previous month up to the same day of month (clipped to its last day)
        least(
            (date_trunc('month', as_of_date) - interval '1 month')::date + (extract(day from as_of_date)::integer - 1),
            (date_trunc('month', as_of_date) - interval '1 day')::date
        ) as previous_month_same_day,
        {{ hours_begun_today('as_of_at', 'as_of_date') }} as hours_begun_today
    from as_of
),

combos as (
    select distinct source, bot_type, service_needed from leads
),

snapshot as (
    select
        windows.as_of_at,
        windows.as_of_date,
        windows.hours_begun_today,
        combos.source,
        combos.bot_type,
        combos.service_needed,
        count(leads.lead_id) as total_leads,
        count(leads.lead_id) filter (where leads.created_date = windows.as_of_date) as leads_today,
        count(leads.lead_id) filter (
            where leads.created_date between windows.as_of_date - 6 and windows.as_of_date) as leads_this_week,
        count(leads.lead_id) filter (
            where leads.created_date between windows.as_of_date - 13 and windows.as_of_date - 7) as leads_previous_week,
        count(leads.lead_id) filter (
            where leads.created_date between windows.month_start and windows.as_of_date) as leads_this_month,
        count(leads.lead_id) filter (
            where leads.created_date between windows.previous_month_start and windows.previous_month_same_day)
            as leads_previous_month_to_date,
        count(leads.confidence_score) as scored_leads,
        coalesce(sum(leads.confidence_score), 0) as sum_confidence_score,
        count(leads.lead_id) filter (where leads.is_high_confidence) as high_confidence_leads,
        count(leads.lead_id) filter (where leads.is_low_confidence) as low_confidence_leads,
        count(leads.lead_id) filter (where leads.status = 'new') as new_leads,
        count(leads.lead_id) filter (where leads.status = 'in progress') as in_progress_leads,
        count(leads.lead_id) filter (where leads.status = 'converted') as converted_leads,
        count(leads.lead_id) filter (where leads.status = 'dropped') as dropped_leads,
        count(leads.lead_id) filter (where leads.is_repeat_lead) as repeat_leads
    from combos
    cross join windows
    left join leads
        on leads.source = combos.source
        and leads.bot_type = combos.bot_type
        and leads.service_needed = combos.service_needed
    group by 1, 2, 3, 4, 5, 6
)

select * from snapshot
