-- One row per workflow call (an attempt of a step): the attempt-level facts of component health, response times,
-- error categories and the external API table (D24: attempt-level success is the ops view; the lead-level view is
-- fct_ops_pipeline_steps). Windows are flags against the as-of moment (D75).
with

events as (
    select * from {{ ref('stg_crm__workflow_events') }}
    where occurred_at <= {{ as_of_timestamp() }}
),

slas as (
    select * from {{ ref('component_slas') }}
),

as_of as (
    select * from {{ ref('dim_as_of') }}
),

final as (
    select
        e.event_id,
        e.execution_id,
        e.lead_id,
        e.step,
        e.attempt,
        e.component,
        s.component_name,
        e.vendor,
        s.vendor_name,
        e.status,
        e.status = 'success' as is_success,
        e.error_category,
        e.http_status,
        e.latency_ms,
        e.rate_limit_remaining,
        e.rate_limit_limit,
        1 - e.rate_limit_remaining::numeric / nullif(e.rate_limit_limit, 0) as rate_limit_used_share,
        -- the vendor answered (not a rejected credential, a server error or a timeout) within the target latency
        coalesce(e.http_status not in (401) and e.http_status < 500 and e.latency_ms <= s.target_latency_ms, false)
            as is_sla_compliant,
        s.target_success_rate,
        s.target_latency_ms,
        e.occurred_at,
        {{ reporting_date('e.occurred_at') }} as event_date,
        date_trunc('hour', {{ to_reporting_tz('e.occurred_at') }}) as event_hour,
        e.occurred_at > a.as_of_at - interval '1 hour' as is_last_hour,
        e.occurred_at > a.as_of_at - interval '24 hours' as is_last_24_hours,
        {{ reporting_date('e.occurred_at') }} > a.as_of_date - 30 as is_last_30_days
    from events as e
    inner join slas as s on e.component = s.component
    cross join as_of as a
)

select * from final
