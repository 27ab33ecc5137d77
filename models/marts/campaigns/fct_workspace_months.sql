-- One row per workspace (client) and local calendar month, from its first month (creation or first cost row) to
-- the as-of month, dense: a month without a cost row is a row too, with status 'costs missing' and NULL money,
-- never $0 (seed 004: "Revenue shows $0 - Cost data not entered"). total_costs is the raw table's generated column,
-- read, never recomputed. The previous month's figures sit beside each month for the ROI tile's change.
-- Grain: workspace_id, month_start.
with

workspaces as (
    select * from {{ ref('stg_bison__workspaces') }}
),

costs as (
    select * from {{ ref('stg_bison__client_costs') }}
),

calendar as (
    select * from {{ ref('dim_calendar') }}
),

dim_as_of as (
    select * from {{ ref('int_common__as_of_date') }}
),

as_of as (
    select as_of_calendar.month_start as as_of_month
    from dim_as_of
    inner join calendar as as_of_calendar on dim_as_of.as_of_date = as_of_calendar.calendar_date
),

months as (
    select distinct month_start from calendar
),

first_months as (
    select
        workspaces.workspace_id,
        least(created.month_start, min(costs.month)) as first_month
    from workspaces
    inner join calendar as created on created.calendar_date = {{ reporting_date('workspaces.created_at') }}
    left join costs on workspaces.workspace_id = costs.workspace_id
    group by workspaces.workspace_id, created.month_start
),

workspace_months as (
    select
        first_months.workspace_id,
        months.month_start
    from first_months
    cross join as_of
    inner join months on months.month_start between first_months.first_month and as_of.as_of_month
),

with_costs as (
    select
        workspace_months.workspace_id,
        workspace_months.month_start,
        costs.workspace_id is not null as has_cost_row,
        case
            when costs.workspace_id is null then 'costs missing'
            when costs.client_revenue is null then 'revenue missing'
            when costs.total_costs = 0 then 'total costs are 0'
            else 'complete'
        end as cost_status,
        costs.email_account_costs,
        costs.labor_costs,
        costs.other_costs,
        costs.total_costs,
        costs.client_revenue
    from workspace_months
    left join costs
        on workspace_months.workspace_id = costs.workspace_id and workspace_months.month_start = costs.month
),

final as (
    select
        concat_ws('|', with_costs.workspace_id, with_costs.month_start) as workspace_month_key,
        with_costs.workspace_id,
        workspaces.name as workspace_name,
        with_costs.month_start,
        with_costs.has_cost_row,
        with_costs.cost_status,
        with_costs.email_account_costs,
        with_costs.labor_costs,
        with_costs.other_costs,
        with_costs.total_costs,
        with_costs.client_revenue,
        (not with_costs.has_cost_row)::integer as is_costs_missing,
        (with_costs.cost_status <> 'complete')::integer as is_without_roi,
        -- the previous calendar month of the same workspace (months are dense, so the previous row); before the
        -- first month nothing is known, which makes the previous ROI unknown rather than 0
        lag(with_costs.client_revenue) over workspace_history as client_revenue_previous_month,
        lag(with_costs.total_costs) over workspace_history as total_costs_previous_month,
        coalesce(lag((with_costs.cost_status <> 'complete')::integer) over workspace_history, 1)
            as is_without_roi_previous_month
    from with_costs
    left join workspaces on with_costs.workspace_id = workspaces.workspace_id
    window workspace_history as (partition by with_costs.workspace_id order by with_costs.month_start)
)

select * from final
