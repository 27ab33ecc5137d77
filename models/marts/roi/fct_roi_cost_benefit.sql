-- The seed's Cost-Benefit Analysis tables per local calendar month: one row per month and category, costs
-- (System Infrastructure, API Service Costs, Support & Maintenance, Total Investment) and benefits (Time Savings,
-- Revenue Attribution, Error Prevention, Total Benefits), with the month's amount and the trailing-12-month
-- amount (D51 as changed in D134). A cost of a month without a cost row is NULL ('costs missing'), never $0.
-- Grain: month_start, category.
with

roi_months as (
    select * from {{ ref('fct_roi_months') }}
),

categories as (
    select
        month_start, 'cost' as kind, 1 as category_order, 'System Infrastructure' as category,
        infrastructure_cost_usd as monthly_amount_usd, annual_infrastructure_cost_usd as annual_amount_usd,
        cost_status, annual_cost_status, annual_months
    from roi_months
    union all
    select
        month_start, 'cost', 2, 'API Service Costs', api_cost_usd, annual_api_cost_usd,
        cost_status, annual_cost_status, annual_months
    from roi_months
    union all
    select
        month_start, 'cost', 3, 'Support & Maintenance', support_cost_usd, annual_support_cost_usd,
        cost_status, annual_cost_status, annual_months
    from roi_months
    union all
    select
        month_start, 'cost', 4, 'Total Investment', system_costs_usd, annual_system_costs_usd,
        cost_status, annual_cost_status, annual_months
    from roi_months
    union all
    select
        month_start, 'benefit', 5, 'Time Savings', time_savings_value_usd, annual_time_savings_value_usd,
        cost_status, annual_cost_status, annual_months
    from roi_months
    union all
    select
        month_start, 'benefit', 6, 'Revenue Attribution', revenue_attribution_usd, annual_revenue_attribution_usd,
        cost_status, annual_cost_status, annual_months
    from roi_months
    union all
    select
        month_start, 'benefit', 7, 'Error Prevention (estimate)', cost_avoidance_usd, annual_cost_avoidance_usd,
        cost_status, annual_cost_status, annual_months
    from roi_months
    union all
    select
        month_start, 'benefit', 8, 'Total Benefits', total_benefits_usd, annual_total_benefits_usd,
        cost_status, annual_cost_status, annual_months
    from roi_months
),

final as (
    select
        concat_ws('|', month_start, category_order) as cost_benefit_key,
        month_start,
        kind,
        category_order,
        category,
        monthly_amount_usd,
        annual_amount_usd,
        case when kind = 'cost' then cost_status else 'measured' end as monthly_status,
        case
            when kind = 'cost' and annual_cost_status <> 'complete' then annual_cost_status
            when annual_months < 12 then 'partial year: ' || annual_months || ' of 12 months'
            else '12 months'
        end as annual_status
    from categories
)

select * from final
