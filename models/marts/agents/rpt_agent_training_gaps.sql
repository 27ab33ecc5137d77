-- Training opportunities: per agent, month and Efficiency Score component, the agent's value against the median
-- of the agents of the same organisation with at least one lead assigned that month. The gap is signed so that a
-- positive gap is how far the agent is behind the median.
with

agent_months as (
    select * from {{ ref('fct_agent_months') }}
),

agents as (
    select * from {{ ref('int_agents__agents') }}
),

active_months as (
    select * from agent_months
    where leads_assigned > 0
),

components as (
    select
        active_months.agent_month_key,
        active_months.agent_id,
        active_months.agent_name,
        active_months.location_name,
        active_months.organization_name,
        active_months.month_start,
        component.component,
        component.component_label,
        component.component_order,
        component.lower_is_better,
        -- rounded once, so an agent alone in the median is exactly on it
        round(component.agent_value, 6) as agent_value,
        component.target
    from active_months
    inner join agents
        on active_months.agent_id = agents.agent_id
    cross join lateral (
        values
        (
            'response_business_hours', 'Response time (business hours)', 1, true,
            active_months.agent_response_business_seconds / 3600.0 / nullif(active_months.leads_answered, 0),
            agents.target_response_business_hours
        ),
        (
            'appointment_rate', 'Appointment rate', 2, false,
            active_months.leads_with_appointment::numeric / active_months.leads_assigned,
            agents.target_appointment_rate
        ),
        (
            'close_rate', 'Close rate', 3, false,
            active_months.leads_won::numeric / active_months.leads_assigned,
            agents.target_close_rate
        ),
        (
            'revenue_per_lead', 'Revenue per lead', 4, false,
            active_months.won_value_usd / active_months.leads_assigned,
            agents.target_revenue_per_lead
        )
    ) as component (component, component_label, component_order, lower_is_better, agent_value, target)
),

medians as (
    select
        organization_name,
        month_start,
        component,
        round(percentile_cont(0.5) within group (order by agent_value)::numeric, 6) as team_median,
        count(*) as team_agents
    from components
    where agent_value is not null
    group by organization_name, month_start, component
),

final as (
    select
        components.agent_month_key || '|' || components.component as training_gap_key,
        components.agent_month_key,
        components.agent_id,
        components.agent_name,
        components.location_name,
        components.organization_name,
        components.month_start,
        components.component,
        components.component_label,
        components.component_order,
        components.lower_is_better,
        components.agent_value,
        medians.team_median,
        coalesce(medians.team_agents, 0) as team_agents,
        components.target,
        case
            when components.lower_is_better then components.agent_value - medians.team_median
            else medians.team_median - components.agent_value
        end as gap_to_median,
        coalesce(case
            when components.lower_is_better then components.agent_value > medians.team_median
            else components.agent_value < medians.team_median
        end, false) as is_behind_median
    from components
    left join medians
        on components.organization_name = medians.organization_name
            and components.month_start = medians.month_start
            and components.component = medians.component
)

select * from final
