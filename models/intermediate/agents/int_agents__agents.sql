-- One row per CRM agent with where they work, when they were employed, and the targets and weights of their
-- Efficiency Score (an agent's own target row wins over the team default `*`, per metric).
with

agents as (
    select * from {{ ref('stg_crm__agents') }}
),

locations as (
    select * from {{ ref('stg_crm__locations') }}
),

targets as (
    select * from {{ ref('agent_targets') }}
),

weights as (
    select * from {{ ref('agent_efficiency_weights') }}
),

target_per_agent as (
    select
        agents.agent_id,
        targets.metric,
        -- the agent's own row first, then the team default
        (array_agg(targets.target order by (targets.agent_id = '*')))[1] as target_value
    from agents
    inner join targets
        on targets.agent_id in (agents.agent_id, '*')
    group by agents.agent_id, targets.metric
),

targets_wide as (
    select
        agent_id,
        max(target_value) filter (where metric = 'response_business_hours') as target_response_business_hours,
        max(target_value) filter (where metric = 'appointment_rate') as target_appointment_rate,
        max(target_value) filter (where metric = 'close_rate') as target_close_rate,
        max(target_value) filter (where metric = 'revenue_per_lead') as target_revenue_per_lead
    from target_per_agent
    group by agent_id
),

weights_wide as (
    select
        max(weight) filter (where metric = 'response_business_hours') as weight_response_time,
        max(weight) filter (where metric = 'appointment_rate') as weight_appointment_rate,
        max(weight) filter (where metric = 'close_rate') as weight_close_rate,
        max(weight) filter (where metric = 'revenue_per_lead') as weight_revenue_per_lead
    from weights
),

final as (
    select
        agents.agent_id,
        agents.name as agent_name,
        agents.team,
        agents.location_id,
        locations.location_name,
        locations.organization_name,
        locations.timezone as location_timezone,
        agents.hired_date,
        agents.terminated_date,
        agents.active,
        targets_wide.target_response_business_hours,
        targets_wide.target_appointment_rate,
        targets_wide.target_close_rate,
        targets_wide.target_revenue_per_lead,
        weights_wide.weight_response_time,
        weights_wide.weight_appointment_rate,
        weights_wide.weight_close_rate,
        weights_wide.weight_revenue_per_lead
    from agents
    left join locations
        on agents.location_id = locations.location_id
    left join targets_wide
        on agents.agent_id = targets_wide.agent_id
    cross join weights_wide
)

select * from final
