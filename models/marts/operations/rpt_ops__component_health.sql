-- One row per component (and the vendor behind it) as of the as-of moment: the System Health Indicators and
-- External API Health tables (D143). Status, first that holds: Down = an open incident; No heartbeat = no check
-- in the last two intervals (30 minutes); Degraded = the window's success rate below the SLA target or its
-- average response time above the target latency; Healthy. The component table reads the last 24 hours, the
-- vendor table the last 30 days; rate-limit use is the vendor's latest answer carrying the headers.
with

slas as (
    select * from {{ ref('component_slas') }}
),

attempts as (
    select * from {{ ref('fct_ops_workflow_attempts') }}
),

incidents as (
    select * from {{ ref('int_ops__component_incidents') }}
),

as_of as (
    select * from {{ ref('int_common__as_of_date') }}
),

heartbeats as (
    select * from {{ ref('stg_crm__health_checks') }}
    where checked_at <= {{ as_of_timestamp() }}
),

last_heartbeats as (
    select
        component,
        max(checked_at) as last_heartbeat_at
    from heartbeats
    group by component
),

open_incidents as (
    select
        component,
        count(*) as open_incidents,
        min(started_at) as down_since
    from incidents
    where is_open
    group by component
),

windows as (
    select
        component,
        count(*) filter (where is_last_24_hours) as attempts_24h,
        count(*) filter (where is_last_24_hours and is_success) as successes_24h,
        avg(latency_ms) filter (where is_last_24_hours) as avg_latency_ms_24h,
        sum(latency_ms) filter (where is_last_24_hours) as latency_ms_sum_24h,
        count(latency_ms) filter (where is_last_24_hours) as latency_calls_24h,
        count(*) filter (where is_last_30_days) as attempts_30d,
        count(*) filter (where is_last_30_days and is_success) as successes_30d,
        avg(latency_ms) filter (where is_last_30_days) as avg_latency_ms_30d,
        sum(latency_ms) filter (where is_last_30_days) as latency_ms_sum_30d,
        count(latency_ms) filter (where is_last_30_days) as latency_calls_30d,
        count(*) filter (where is_last_30_days and is_sla_compliant) as sla_compliant_30d
    from attempts
    group by component
),

latest_rate_limit as (
    select distinct on (component)
        component,
        rate_limit_used_share
    from attempts
    where rate_limit_used_share is not null
    order by component asc, occurred_at desc, event_id desc
),

measured as (
    select
        sla.component,
        sla.component_name,
        sla.vendor,
        sla.vendor_name,
        sla.target_success_rate,
        sla.target_latency_ms,
        hbt.last_heartbeat_at,
        coalesce(opn.open_incidents, 0) as open_incidents,
        opn.down_since,
        coalesce(win.attempts_24h, 0) as attempts_24h,
        coalesce(win.successes_24h, 0) as processed_24h,
        win.successes_24h::numeric / nullif(win.attempts_24h, 0) as success_rate_24h,
        win.avg_latency_ms_24h,
        coalesce(win.latency_ms_sum_24h, 0) as latency_ms_sum_24h,
        coalesce(win.latency_calls_24h, 0) as latency_calls_24h,
        coalesce(win.attempts_30d, 0) as attempts_30d,
        coalesce(win.successes_30d, 0) as successes_30d,
        coalesce(win.latency_ms_sum_30d, 0) as latency_ms_sum_30d,
        coalesce(win.latency_calls_30d, 0) as latency_calls_30d,
        coalesce(win.sla_compliant_30d, 0) as sla_compliant_30d,
        win.successes_30d::numeric / nullif(win.attempts_30d, 0) as success_rate_30d,
        (win.attempts_30d - win.successes_30d)::numeric / nullif(win.attempts_30d, 0) as error_rate_30d,
        win.avg_latency_ms_30d,
        win.sla_compliant_30d::numeric / nullif(win.attempts_30d, 0) as sla_compliance_30d,
        rlm.rate_limit_used_share,
        aso.as_of_date
    from slas as sla
    cross join as_of as aso
    left join last_heartbeats as hbt on sla.component = hbt.component
    left join open_incidents as opn on sla.component = opn.component
    left join windows as win on sla.component = win.component
    left join latest_rate_limit as rlm on sla.component = rlm.component
),

final as (
    select
        *,
        case
            when open_incidents > 0 then 'Down'
            when last_heartbeat_at is null
                or last_heartbeat_at <= {{ as_of_timestamp() }} - interval '30 minutes' then 'No heartbeat'
            when success_rate_24h < target_success_rate or avg_latency_ms_24h > target_latency_ms then 'Degraded'
            else 'Healthy'
        end as component_status,
        case
            when open_incidents > 0 then 'Down'
            when success_rate_30d < target_success_rate or avg_latency_ms_30d > target_latency_ms then 'Degraded'
            else 'Healthy'
        end as vendor_status
    from measured
)

select * from final
