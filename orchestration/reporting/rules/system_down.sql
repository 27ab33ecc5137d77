-- Components with an open incident: downtime (critical).
with

health as (
    select * from marts.rpt_ops__component_health
),

final as (
    select
        component as subject,
        open_incidents as value,
        component_name || ' is down: ' || open_incidents || ' open incident(s)' as detail
    from health
    where component_status = 'Down'
)

select * from final
