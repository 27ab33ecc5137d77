-- The seed-000 KPIs as one row, relative to the as-of moment (no dashboard filters applied).
with

snapshot as (
    select * from {{ ref('rpt_bot_leads__snapshot') }}
),

as_of as (
    select
        {{ as_of_timestamp() }} as as_of_at,
        {{ reporting_date(as_of_timestamp()) }} as as_of_date
),

totals as (
    select
        coalesce(sum(total_leads), 0) as total_leads,
        coalesce(sum(leads_today), 0) as leads_today,
        coalesce(sum(leads_this_week), 0) as leads_this_week,
        coalesce(sum(leads_previous_week), 0) as leads_previous_week,
        coalesce(sum(leads_this_month), 0) as leads_this_month,
        coalesce(sum(leads_previous_month_to_date), 0) as leads_previous_month_to_date,
        max(hours_begun_today) as hours_begun_today,
        coalesce(sum(scored_leads), 0) as scored_leads,
        coalesce(sum(sum_confidence_score), 0) as sum_confidence_score,
        coalesce(sum(high_confidence_leads), 0) as high_confidence_leads,
        coalesce(sum(low_confidence_leads), 0) as low_confidence_leads,
        coalesce(sum(new_leads), 0) as new_leads,
        coalesce(sum(in_progress_leads), 0) as in_progress_leads,
        coalesce(sum(converted_leads), 0) as converted_leads,
        coalesce(sum(dropped_leads), 0) as dropped_leads,
        coalesce(sum(repeat_leads), 0) as repeat_leads
    from snapshot
),

sources_ranked as (
    select
        source,
        sum(total_leads) as leads,
        row_number() over (order by sum(total_leads) desc, source) as source_rank
    from snapshot
    group by source
),

services_ranked as (
    select
        service_needed,
        row_number() over (order by sum(total_leads) desc, service_needed) as service_rank
    from snapshot
    group by service_needed
),

final as (
    select
        as_of.as_of_at,
        as_of.as_of_date,
        totals.total_leads,
        totals.leads_today,
        totals.leads_this_week,
        totals.leads_previous_week,
        case when totals.leads_previous_week = 0 then null
             else round((totals.leads_this_week - totals.leads_previous_week)::numeric / totals.leads_previous_week, 4)
        end as week_growth_rate,
        totals.leads_this_month,
        totals.leads_previous_month_to_date,
        case when totals.leads_previous_month_to_date = 0 then null
             else round((totals.leads_this_month - totals.leads_previous_month_to_date)::numeric
                        / totals.leads_previous_month_to_date, 4)
        end as month_growth_rate,
        -- the snapshot has no rows (so no hours) when there are no leads yet
        round(totals.leads_today::numeric / nullif(coalesce(totals.hours_begun_today,
            {{ hours_begun_today('as_of.as_of_at', 'as_of.as_of_date') }}), 0), 4) as avg_leads_per_hour_today,
        case when totals.scored_leads = 0 then null
             else round(totals.sum_confidence_score / totals.scored_leads, 4)
        end as avg_confidence_score,
        totals.high_confidence_leads,
        totals.low_confidence_leads,
        totals.new_leads,
        totals.in_progress_leads,
        totals.converted_leads,
        totals.dropped_leads,
        totals.repeat_leads,
        (select source from sources_ranked where source_rank = 1) as top_lead_source,
        (select string_agg(source, ', ' order by source_rank) from sources_ranked where source_rank <= 3)
            as top_3_lead_sources,
        (select service_needed from services_ranked where service_rank = 1) as top_service_requested
    from as_of
    cross join totals
)

select * from final
