-- The ROI framework of seed 001 per local calendar month, from the system's first month (first system-cost row or
-- first automated unit) to the as-of month, dense. Every dollar is traceable to its inputs, which sit beside it:
--   Time Savings Value = Hours Saved (per agent) × Average Hourly Rate × Number of Agents = team hours × rate (D21)
--   Revenue Attribution = Σ attributed_value_usd of leads won in the month (derived class × weight, D16/D102)
--   Cost Avoidance      = leads routed by the automation × error rate × average error cost (seed estimates, D21)
--   System Costs        = infrastructure + api + support (raw_crm.system_costs)
--   Monthly ROI         = (benefits - costs) / costs; NULL, never 0 or infinite, when costs are missing or 0 (D20)
-- A month without any cost row has unknown costs: net benefit and ROI are NULL and cost_status says 'costs missing'.
-- Annual figures are the windowed 12 months ending with the row's month (D51 as changed in D134).
-- Money and hours are written to 4 decimals (a cent is 2; the sums of several months stay exact to the cent).
-- Grain: month_start.
with

units as (
    select * from {{ ref('int_roi__time_saved_units') }}
),

rate_months as (
    select * from {{ ref('int_roi__agent_rate_months') }}
),

journeys as (
    select * from {{ ref('int_crm__lead_journeys') }}
),

costs as (
    select * from {{ ref('stg_crm__system_costs') }}
),

assumptions as (
    select * from {{ ref('roi_assumptions') }}
),

calendar as (
    select * from {{ ref('dim_calendar') }}
),

as_of as (
    select * from {{ ref('int_common__as_of_date') }}
),

as_of_month as (
    select date_trunc('month', as_of_date)::date as month_start from as_of
),

error_assumptions as (
    select
        max(case when assumption = 'manual_error_rate_per_lead' then value end) as error_rate_per_lead,
        max(case when assumption = 'avg_error_cost_usd' then value end) as avg_error_cost_usd
    from assumptions
),

starts as (
    select units.month_start from units
    union all
    select costs.month as month_start from costs
),

first_month as (
    select min(month_start) as month_start from starts
),

months as (
    select distinct calendar.month_start
    from calendar
    cross join first_month
    cross join as_of_month
    where calendar.month_start between first_month.month_start and as_of_month.month_start
),

time_saved as (
    select
        month_start,
        sum(minutes_saved) / 60.0 as team_hours_saved,
        sum(units) as automated_units
    from units
    group by month_start
),

headcount as (
    select
        month_start,
        count(*) as number_of_agents,
        sum(rate_days) / nullif(sum(rated_days), 0) as avg_hourly_rate_usd
    from rate_months
    group by month_start
),

routed as (
    -- a lead routed end to end by the automation is one successful routing step: a unit of the units model
    select
        month_start,
        sum(units) as leads_routed_by_automation
    from units
    where unit_type = 'workflow:routing'
    group by month_start
),

attributed as (
    select
        calendar.month_start,
        sum(journeys.attributed_value_usd) as revenue_attribution_usd,
        sum(journeys.won_value_usd) as won_revenue_usd,
        count(*) as deals_won
    from journeys
    inner join calendar on journeys.closed_date = calendar.calendar_date
    where journeys.is_won
    group by calendar.month_start
),

month_costs as (
    select
        month as month_start,
        sum(case when category = 'infrastructure' then amount else 0 end) as infrastructure_cost_usd,
        sum(case when category = 'api' then amount else 0 end) as api_cost_usd,
        sum(case when category = 'support' then amount else 0 end) as support_cost_usd,
        sum(amount) as system_costs_usd
    from costs
    group by month
),

monthly as (
    select
        months.month_start,
        coalesce(time_saved.automated_units, 0) as automated_units,
        coalesce(time_saved.team_hours_saved, 0) as team_hours_saved,
        coalesce(headcount.number_of_agents, 0) as number_of_agents,
        headcount.avg_hourly_rate_usd,
        coalesce(time_saved.team_hours_saved, 0) / nullif(headcount.number_of_agents, 0) as hours_saved_per_agent,
        coalesce(time_saved.team_hours_saved * headcount.avg_hourly_rate_usd, 0) as time_savings_value_usd,
        coalesce(attributed.revenue_attribution_usd, 0) as revenue_attribution_usd,
        coalesce(attributed.won_revenue_usd, 0) as won_revenue_usd,
        coalesce(attributed.deals_won, 0) as deals_won,
        coalesce(routed.leads_routed_by_automation, 0) as leads_routed_by_automation,
        coalesce(routed.leads_routed_by_automation, 0) * error_assumptions.error_rate_per_lead as errors_prevented,
        coalesce(routed.leads_routed_by_automation, 0) * error_assumptions.error_rate_per_lead
        * error_assumptions.avg_error_cost_usd as cost_avoidance_usd,
        month_costs.month_start is not null as has_cost_row,
        month_costs.infrastructure_cost_usd,
        month_costs.api_cost_usd,
        month_costs.support_cost_usd,
        month_costs.system_costs_usd
    from months
    cross join error_assumptions
    left join time_saved on months.month_start = time_saved.month_start
    left join headcount on months.month_start = headcount.month_start
    left join routed on months.month_start = routed.month_start
    left join attributed on months.month_start = attributed.month_start
    left join month_costs on months.month_start = month_costs.month_start
),

valued as (
    select
        *,
        time_savings_value_usd + cost_avoidance_usd as monthly_savings_usd,
        time_savings_value_usd + revenue_attribution_usd + cost_avoidance_usd as total_benefits_usd,
        case
            when not has_cost_row then 'costs missing'
            when system_costs_usd = 0 then 'costs are 0'
            else 'complete'
        end as cost_status
    from monthly
),

windowed as (
    select
        *,
        count(*) over last_12 as annual_months,
        sum((not has_cost_row)::integer) over last_12 as annual_months_costs_missing,
        sum(time_savings_value_usd) over last_12 as annual_time_savings_value_usd,
        sum(revenue_attribution_usd) over last_12 as annual_revenue_attribution_usd,
        sum(cost_avoidance_usd) over last_12 as annual_cost_avoidance_usd,
        sum(total_benefits_usd) over last_12 as annual_total_benefits_usd,
        sum(infrastructure_cost_usd) over last_12 as annual_infrastructure_cost_usd,
        sum(api_cost_usd) over last_12 as annual_api_cost_usd,
        sum(support_cost_usd) over last_12 as annual_support_cost_usd,
        sum(system_costs_usd) over last_12 as annual_system_costs_usd,
        sum(team_hours_saved) over (order by month_start) as cumulative_team_hours_saved
    from valued
    -- months are dense from the first month, so 12 rows are the 12 calendar months ending with this one
    window last_12 as (order by month_start rows between 11 preceding and current row)
),

final as (
    select
        windowed.month_start,
        (windowed.month_start + interval '1 month' - interval '1 day')::date as month_end,
        windowed.month_start = as_of_month.month_start as is_as_of_month,
        windowed.automated_units,
        round(windowed.team_hours_saved, 4) as team_hours_saved,
        windowed.number_of_agents,
        round(windowed.avg_hourly_rate_usd, 4) as avg_hourly_rate_usd,
        round(windowed.hours_saved_per_agent, 4) as hours_saved_per_agent,
        round(windowed.time_savings_value_usd, 4) as time_savings_value_usd,
        round(windowed.revenue_attribution_usd, 4) as revenue_attribution_usd,
        round(windowed.won_revenue_usd, 4) as won_revenue_usd,
        windowed.deals_won,
        windowed.leads_routed_by_automation,
        windowed.errors_prevented,
        round(windowed.cost_avoidance_usd, 4) as cost_avoidance_usd,
        round(windowed.monthly_savings_usd, 4) as monthly_savings_usd,
        round(windowed.total_benefits_usd, 4) as total_benefits_usd,
        windowed.has_cost_row,
        windowed.cost_status,
        (not windowed.has_cost_row)::integer as is_costs_missing,
        (windowed.cost_status <> 'complete')::integer as is_without_roi,
        windowed.infrastructure_cost_usd,
        windowed.api_cost_usd,
        windowed.support_cost_usd,
        windowed.system_costs_usd,
        case when windowed.has_cost_row then windowed.total_benefits_usd - windowed.system_costs_usd end
            as net_benefit_usd,
        (windowed.total_benefits_usd - windowed.system_costs_usd) / nullif(windowed.system_costs_usd, 0) as roi,
        round(windowed.cumulative_team_hours_saved, 4) as cumulative_team_hours_saved,
        windowed.annual_months,
        windowed.annual_months < 12 as is_partial_year,
        windowed.annual_months_costs_missing,
        case
            when windowed.annual_months_costs_missing > 0 then 'costs missing'
            when windowed.annual_system_costs_usd = 0 then 'costs are 0'
            else 'complete'
        end as annual_cost_status,
        round(windowed.annual_time_savings_value_usd, 4) as annual_time_savings_value_usd,
        round(windowed.annual_revenue_attribution_usd, 4) as annual_revenue_attribution_usd,
        round(windowed.annual_cost_avoidance_usd, 4) as annual_cost_avoidance_usd,
        round(windowed.annual_total_benefits_usd, 4) as annual_total_benefits_usd,
        case when windowed.annual_months_costs_missing = 0 then windowed.annual_infrastructure_cost_usd end
            as annual_infrastructure_cost_usd,
        case when windowed.annual_months_costs_missing = 0 then windowed.annual_api_cost_usd end
            as annual_api_cost_usd,
        case when windowed.annual_months_costs_missing = 0 then windowed.annual_support_cost_usd end
            as annual_support_cost_usd,
        case when windowed.annual_months_costs_missing = 0 then windowed.annual_system_costs_usd end
            as annual_system_costs_usd,
        case when windowed.annual_months_costs_missing = 0
                then windowed.annual_total_benefits_usd - windowed.annual_system_costs_usd
        end as annual_net_benefit_usd,
        case when windowed.annual_months_costs_missing = 0
                then (windowed.annual_total_benefits_usd - windowed.annual_system_costs_usd)
                    / nullif(windowed.annual_system_costs_usd, 0)
        end as annual_roi
    from windowed
    cross join as_of_month
)

select * from final
