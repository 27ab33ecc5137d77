-- One row per lead assigned to an agent: when it was assigned (the cohort date), how long the agent took to answer
-- it in calendar and business hours of the lead's location (D10), and what became of it (appointment, won deal),
-- with the agent's Efficiency Score targets and weights on every row (constant per agent).
with

journeys as (
    select * from {{ ref('int_crm__lead_journeys') }}
),

activities as (
    select * from {{ ref('stg_crm__activities') }}
),

agents as (
    select * from {{ ref('int_agents__agents') }}
),

as_of as (
    select * from {{ ref('dim_as_of') }}
),

assigned as (
    select
        journeys.*,
        -- D10: the assignment; without one, the routing event, then the lead's arrival
        coalesce(journeys.assigned_at, journeys.routed_at, journeys.created_at) as response_start_at
    from journeys
    cross join as_of
    where journeys.assigned_agent_id is not null
        and coalesce(journeys.assigned_at, journeys.routed_at, journeys.created_at) <= as_of.as_of_at
),

agent_touch as (
    -- the assigned agent's first own outbound activity at or after the start, up to the as-of moment
    select
        assigned.lead_id,
        min(activities.occurred_at) as first_agent_touch_at
    from assigned
    inner join activities
        on assigned.lead_id = activities.lead_id
            and assigned.assigned_agent_id = activities.agent_id
            and assigned.response_start_at <= activities.occurred_at
    cross join as_of
    where activities.direction = 'outbound'
        and not activities.is_automated
        and activities.occurred_at <= as_of.as_of_at
    group by assigned.lead_id
),

final as (
    select
        assigned.lead_id,
        assigned.assigned_agent_id as agent_id,
        agents.agent_name,
        assigned.location_id,
        assigned.location_name,
        assigned.organization_name,
        assigned.source,
        assigned.score_band,
        assigned.priority,
        assigned.response_start_at,
        {{ reporting_date('assigned.response_start_at') }} as assigned_date,
        agent_touch.first_agent_touch_at,
        agent_touch.lead_id is not null as is_answered,
        -- still open (neither won nor lost, no appointment) and never touched by the agent: waiting for a first call
        agent_touch.lead_id is null and not assigned.has_appointment and not assigned.is_won
        and assigned.lost_at is null and assigned.status not in ('won', 'lost') as is_waiting,
        extract(epoch from agent_touch.first_agent_touch_at - assigned.response_start_at)::bigint
            as agent_response_seconds,
        {{ crm_business_seconds('assigned.response_start_at', 'agent_touch.first_agent_touch_at',
                                'assigned.location_id', 'assigned.location_timezone') }}::bigint
            as agent_response_business_seconds,
        -- the same in hours, as double precision: the scorecard's sums stay fast on a table of every lead
        extract(epoch from agent_touch.first_agent_touch_at - assigned.response_start_at)::double precision / 3600
            as agent_response_hours,
        {{ crm_business_seconds('assigned.response_start_at', 'agent_touch.first_agent_touch_at',
                                'assigned.location_id', 'assigned.location_timezone') }}::double precision / 3600
            as agent_response_business_hours,
        assigned.has_appointment,
        assigned.is_won,
        coalesce(assigned.won_value_usd, 0) as won_value_usd,
        {{ reporting_date('assigned.response_start_at') }} >= agents.hired_date
        and {{ reporting_date('assigned.response_start_at') }} < coalesce(agents.terminated_date, 'infinity'::date)
            as is_assigned_while_employed,
        agents.target_response_business_hours,
        agents.target_appointment_rate,
        agents.target_close_rate,
        agents.target_revenue_per_lead,
        agents.weight_response_time,
        agents.weight_appointment_rate,
        agents.weight_close_rate,
        agents.weight_revenue_per_lead
    from assigned
    inner join agents
        on assigned.assigned_agent_id = agents.agent_id
    left join agent_touch
        on assigned.lead_id = agent_touch.lead_id
)

select * from final
