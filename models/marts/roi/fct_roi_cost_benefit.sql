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
        roi_months.month_start,
        roi_months.cost_status,
        roi_months.annual_cost_status,
        roi_months.annual_months,
        rows_of_month.kind,
        rows_of_month.category_order,
        rows_of_month.category,
        rows_of_month.monthly_amount_usd,
        rows_of_month.annual_amount_usd
    from roi_months
    cross join lateral (
        values
        (
            'cost', 1, 'System Infrastructure', roi_months.infrastructure_cost_usd,
            roi_months.annual_infrastructure_cost_usd
        ),
        ('cost', 2, 'API Service Costs', roi_months.api_cost_usd, roi_months.annual_api_cost_usd),
        ('cost', 3, 'Support & Maintenance', roi_months.support_cost_usd, roi_months.annual_support_cost_usd),
        ('cost', 4, 'Total Investment', roi_months.system_costs_usd, roi_months.annual_system_costs_usd),
        ('benefit', 5, 'Time Savings', roi_months.time_savings_value_usd, roi_months.annual_time_savings_value_usd),
        (
            'benefit', 6, 'Revenue Attribution', roi_months.revenue_attribution_usd,
            roi_months.annual_revenue_attribution_usd
        ),
        (
            'benefit', 7, 'Error Prevention (estimate)', roi_months.cost_avoidance_usd,
            roi_months.annual_cost_avoidance_usd
        ),
        ('benefit', 8, 'Total Benefits', roi_months.total_benefits_usd, roi_months.annual_total_benefits_usd)
    ) as rows_of_month (kind, category_order, category, monthly_amount_usd, annual_amount_usd)
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
