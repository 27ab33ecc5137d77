-- Each agent's employed days in each local calendar month and the hourly rate in effect on each of them
-- (raw_crm.agent_rates: a rate applies from valid_from until the agent's next valid_from). The month's average
-- hourly rate is Σ rate_days / Σ employed_days over agents: day-weighted, so a raise on the 15th counts for the
-- days it was paid (D22 as changed, D132). Employed = hired_date <= day < terminated_date.
-- Grain: agent_id, month_start.
with

agents as (
    select * from {{ ref('stg_crm__agents') }}
),

rates as (
    select * from {{ ref('stg_crm__agent_rates') }}
),

calendar as (
    select * from {{ ref('dim_calendar') }}
),

as_of as (
    select * from {{ ref('int_common__as_of_date') }}
),

employed_days as (
    select
        agents.agent_id,
        calendar.month_start,
        calendar.calendar_date,
        rates.hourly_rate
    from agents
    cross join as_of
    inner join calendar
        on agents.hired_date <= calendar.calendar_date
            and (agents.terminated_date is null or agents.terminated_date > calendar.calendar_date)
            -- whole months up to the as-of month: the current month's rate is the one in effect for it
            and calendar.month_start <= date_trunc('month', as_of.as_of_date)::date
    left join rates
        on agents.agent_id = rates.agent_id
            and calendar.calendar_date >= rates.valid_from
            and (rates.valid_to is null or calendar.calendar_date < rates.valid_to)
),

final as (
    select
        agent_id,
        month_start,
        count(*) as employed_days,
        count(hourly_rate) as rated_days,
        sum(hourly_rate) as rate_days,
        count(distinct hourly_rate) as rates_in_month
    from employed_days
    group by agent_id, month_start
)

select * from final
