-- A component whose error rate over 24 hours is the threshold's times its 30-day rate, and at least 5 pct.
with

health as (
    select * from marts.rpt_ops__component_health
),

final as (
    select
        component as subject,
        round(100 * (1 - success_rate_24h), 1) as value,
        component_name || ': ' || round(100 * (1 - success_rate_24h), 1) || ' pct errors over 24 h against '
        || round(100 * error_rate_30d, 1) || ' pct over 30 days' as detail
    from health
    where
        1 - success_rate_24h >= 0.05
        and 1 - success_rate_24h >= %(error_rate_spike_multiple)s * coalesce(error_rate_30d, 0)
)

select * from final
