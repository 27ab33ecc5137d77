-- One row per agent and month employed (the employment spine): the month's workload (leads assigned, days
-- employed, hours logged) and outcome sums for load balancing, training gaps and coaching notes. A month with no
-- lead is a row with zeros, so an idle agent shows up in the workload comparison.
with

spine as (
    select * from {{ ref('int_agents__employment_months') }}
),

agents as (
    select * from {{ ref('int_agents__agents') }}
),

agent_leads as (
    select * from {{ ref('fct_agent_leads') }}
),

time_entries as (
    select * from {{ ref('fct_agent_time_entries') }}
),

lead_months as (
    select
        agent_id,
        date_trunc('month', assigned_date)::date as month_start,
        count(*) as leads_assigned,
        count(*) filter (where is_answered) as leads_answered,
        count(*) filter (where is_waiting) as leads_waiting,
        sum(agent_response_seconds) as agent_response_seconds,
        sum(agent_response_business_seconds) as agent_response_business_seconds,
        count(*) filter (where has_appointment) as leads_with_appointment,
        count(*) filter (where is_won) as leads_won,
        sum(won_value_usd) as won_value_usd
    from agent_leads
    group by agent_id, date_trunc('month', assigned_date)
),

time_months as (
    select
        agent_id,
        date_trunc('month', work_date)::date as month_start,
        sum(logged_minutes) as logged_minutes
    from time_entries
    group by agent_id, date_trunc('month', work_date)
),

final as (
    select
        spine.agent_month_key,
        spine.agent_id,
        agents.agent_name,
        agents.location_name,
        agents.organization_name,
        spine.month_start,
        spine.employed_days,
        spine.is_hire_month,
        spine.is_leaving_month,
        coalesce(lead_months.leads_assigned, 0) as leads_assigned,
        coalesce(lead_months.leads_answered, 0) as leads_answered,
        coalesce(lead_months.leads_waiting, 0) as leads_waiting,
        lead_months.agent_response_seconds,
        lead_months.agent_response_business_seconds,
        coalesce(lead_months.leads_with_appointment, 0) as leads_with_appointment,
        coalesce(lead_months.leads_won, 0) as leads_won,
        coalesce(lead_months.won_value_usd, 0) as won_value_usd,
        coalesce(time_months.logged_minutes, 0) as logged_minutes
    from spine
    inner join agents
        on spine.agent_id = agents.agent_id
    left join lead_months
        on spine.agent_id = lead_months.agent_id
            and spine.month_start = lead_months.month_start
    left join time_months
        on spine.agent_id = time_months.agent_id
            and spine.month_start = time_months.month_start
)

select * from final
