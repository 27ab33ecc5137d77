-- Incidents of the automation engine's components with the component's display name and the as-of windows
-- (D142). MTTR reads duration_seconds of resolved incidents; active errors are the open ones.
with

incidents as (
    select * from {{ ref('int_ops__component_incidents') }}
),

slas as (
    select * from {{ ref('component_slas') }}
),

as_of as (
    select * from {{ ref('int_common__as_of_date') }}
),

final as (
    select
        inc.incident_id,
        inc.component,
        sla.component_name,
        sla.vendor,
        inc.started_at,
        inc.resolved_at,
        inc.is_open,
        inc.duration_seconds,
        inc.duration_to_as_of_seconds,
        inc.started_date,
        inc.started_date > aso.as_of_date - 30 as started_in_last_30_days
    from incidents as inc
    inner join slas as sla on inc.component = sla.component
    cross join as_of as aso
)

select * from final
