-- A vendor whose latest answer says this share of its rate limit is used (maintenance: capacity warning).
with

health as (
    select * from marts.rpt_ops__component_health
),

final as (
    select
        component as subject,
        round(100 * rate_limit_used_share, 1) as value,
        component_name || ' used ' || round(100 * rate_limit_used_share, 1) || ' pct of its rate limit' as detail
    from health
    where rate_limit_used_share >= %(rate_limit_warning_share)s
)

select * from final
