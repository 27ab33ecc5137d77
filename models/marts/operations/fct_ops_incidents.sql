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
    select * from {{ ref('dim_as_of') }}
),

final as (
    select
        i.incident_id,
        i.component,
        s.component_name,
        s.vendor,
        i.started_at,
        i.resolved_at,
        i.is_open,
        i.duration_seconds,
        i.duration_to_as_of_seconds,
        i.started_date,
        i.started_date > a.as_of_date - 30 as started_in_last_30_days
    from incidents as i
    inner join slas as s on i.component = s.component
    cross join as_of as a
)

select * from final
