-- Components below their SLA (success rate or latency over 24 hours) or without a heartbeat for 30 minutes.
with

health as (
    select * from marts.rpt_ops__component_health
),

final as (
    select
        component as subject,
        round(100 * success_rate_24h, 1) as value,
        component_name || ': ' || component_status || ', success rate ' || coalesce(round(100 * success_rate_24h, 1)::text, 'n/a')
        || ' pct over 24 h against ' || round(100 * target_success_rate, 1) || ' pct' as detail
    from health
    where component_status in ('Degraded', 'No heartbeat')
)

select * from final
