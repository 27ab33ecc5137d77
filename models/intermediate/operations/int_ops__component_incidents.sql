-- Incidents, defined once (D142): an incident of a component runs from its first failed signal to its next
-- successful one. Signals are the component's heartbeats and its workflow calls that failed for the component's
-- own reason (credentials rejected, a server error) or succeeded; a rate limit (429) and invalid data (422) are
-- errors of one request, not of the component, and neither open nor close an incident. Only signals up to the
-- as-of moment count; an incident without a later success is open (an active error).
-- A table, not a view: three marts read it, and it windows every heartbeat (a quarter of a million rows).
{{ config(materialized='table') }}

with

heartbeats as (
    select * from {{ ref('stg_crm__health_checks') }}
),

events as (
    select * from {{ ref('stg_crm__workflow_events') }}
),

signals as (
    select
        component,
        checked_at as signal_at,
        ok as is_success
    from heartbeats
    where {{ as_of_cut('checked_at') }}
    union all
    select
        component,
        occurred_at as signal_at,
        status = 'success' as is_success
    from events
    where {{ as_of_cut('occurred_at') }}
        and (status = 'success' or error_category = 'authentication' or http_status >= 500)
),

numbered as (
    -- successes so far: every failure shares its number with the success before it
    select
        component,
        signal_at,
        is_success,
        count(*) filter (where is_success) over (
            partition by component order by signal_at, is_success rows unbounded preceding
        ) as successes_so_far
    from signals
),

failures as (
    select
        component,
        successes_so_far,
        min(signal_at) as started_at
    from numbered
    where not is_success
    group by component, successes_so_far
),

recoveries as (
    select
        component,
        successes_so_far,
        signal_at as resolved_at
    from numbered
    where is_success
),

final as (
    select
        fail.component || '|' || to_char(fail.started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
            as incident_id,
        fail.component,
        fail.started_at,
        recov.resolved_at,
        recov.resolved_at is null as is_open,
        extract(epoch from recov.resolved_at - fail.started_at)::bigint as duration_seconds,
        extract(epoch from coalesce(recov.resolved_at, {{ as_of_timestamp() }}) - fail.started_at)::bigint
            as duration_to_as_of_seconds,
        {{ reporting_date('fail.started_at') }} as started_date
    from failures as fail
    left join recoveries as recov
        on fail.component = recov.component
            and recov.successes_so_far = fail.successes_so_far + 1
)

select * from final
