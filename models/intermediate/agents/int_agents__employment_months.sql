-- The agent x month spine: one row per agent and local calendar month in which the agent was employed on at least
-- one day up to the as-of date (employed on days in [hired_date, terminated_date), D22). Months before the hire and
-- from the leaving date on have no row, so a team average or median never counts an agent who was not there.
with

agents as (
    select * from {{ ref('int_agents__agents') }}
),

as_of as (
    select * from {{ ref('int_common__as_of_date') }}
),

employment as (
    select
        agents.agent_id,
        agents.hired_date as employed_from,
        -- last employed day: the day before leaving, or the as-of date while employed
        least(coalesce(agents.terminated_date - 1, as_of.as_of_date), as_of.as_of_date) as employed_through,
        agents.terminated_date is not null and agents.terminated_date <= as_of.as_of_date as has_left
    from agents
    cross join as_of
),

months as (
    select
        employment.agent_id,
        employment.employed_from,
        employment.employed_through,
        employment.has_left,
        month_start::date as month_start
    from employment
    cross join
        lateral generate_series(
            date_trunc('month', employment.employed_from), date_trunc('month', employment.employed_through),
            interval '1 month'
        ) as month_start
    where employment.employed_from <= employment.employed_through
),

clipped as (
    select
        agent_id,
        month_start,
        greatest(employed_from, month_start) as employed_from,
        least(employed_through, (month_start + interval '1 month' - interval '1 day')::date) as employed_through,
        date_trunc('month', employed_from) = month_start as is_hire_month,
        has_left and date_trunc('month', employed_through) = month_start as is_leaving_month
    from months
),

final as (
    select
        agent_id || '|' || month_start as agent_month_key,
        agent_id,
        month_start,
        employed_from,
        employed_through,
        employed_through - employed_from + 1 as employed_days,
        is_hire_month,
        is_leaving_month
    from clipped
)

select * from final
