{{ config(indexes=[{'columns': ['event_date']}]) }}
-- One row per workflow call (an attempt of a step): the attempt-level facts of component health, response times,
-- error categories and the external API table (D24: attempt-level success is the ops view; the lead-level view is
-- fct_ops_pipeline_steps). Windows are flags against the as-of moment (D75).
with

events as (
    select * from {{ ref('stg_crm__workflow_events') }}
    where {{ as_of_cut('occurred_at') }}
),

slas as (
    select * from {{ ref('component_slas') }}
),

as_of as (
    select * from {{ ref('dim_as_of') }}
),

final as (
    select
        evt.event_id,
        evt.execution_id,
        evt.lead_id,
        evt.step,
        evt.attempt,
        evt.component,
        sla.component_name,
        evt.vendor,
        sla.vendor_name,
        evt.status,
        evt.status = 'success' as is_success,
        evt.error_category,
        evt.http_status,
        evt.latency_ms,
        evt.rate_limit_remaining,
        evt.rate_limit_limit,
        1 - evt.rate_limit_remaining::numeric / nullif(evt.rate_limit_limit, 0) as rate_limit_used_share,
        -- the vendor answered (not a rejected credential, a server error or a timeout) within the target latency
        coalesce(
            evt.http_status not in (401) and evt.http_status < 500 and evt.latency_ms <= sla.target_latency_ms, false
        ) as is_sla_compliant,
        sla.target_success_rate,
        sla.target_latency_ms,
        evt.occurred_at,
        {{ reporting_date('evt.occurred_at') }} as event_date,
        date_trunc('hour', {{ to_reporting_tz('evt.occurred_at') }}) as event_hour,
        evt.occurred_at > aso.as_of_at - interval '1 hour' as is_last_hour,
        evt.occurred_at > aso.as_of_at - interval '24 hours' as is_last_24_hours,
        {{ reporting_date('evt.occurred_at') }} > aso.as_of_date - 30 as is_last_30_days
    from events as evt
    inner join slas as sla on evt.component = sla.component
    cross join as_of as aso
)

select * from final
