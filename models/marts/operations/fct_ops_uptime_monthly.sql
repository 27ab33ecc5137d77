-- Uptime per component and reporting-zone month (D142): heartbeat time, and the part of it inside an incident.
-- A heartbeat vouches for its component from its check until the next check, at most one interval (15 minutes)
-- and never past the as-of moment: a missing heartbeat is unobserved time, counted neither up nor down.
with

heartbeats as (
    select * from {{ ref('stg_crm__health_checks') }}
    where checked_at < {{ as_of_timestamp() }}
),

incidents as (
    select * from {{ ref('int_ops__component_incidents') }}
),

slices as (
    select
        component,
        checked_at as slice_start,
        least(
            lead(checked_at) over (partition by component order by checked_at),
            checked_at + interval '{{ var("ops_heartbeat_interval_minutes", 15) }} minutes',
            {{ as_of_timestamp() }}
        ) as slice_end
    from heartbeats
),

slice_months as (
    -- a slice that crosses a month boundary (local) is split at it
    select
        s.component,
        m.month_start,
        greatest(s.slice_start, {{ to_reporting_tz_inverse('m.month_start') }}) as part_start,
        least(s.slice_end, {{ to_reporting_tz_inverse("(m.month_start + interval '1 month')") }}) as part_end
    from slices as s
    cross join lateral generate_series(
        date_trunc('month', {{ to_reporting_tz('s.slice_start') }}),
        date_trunc('month', {{ to_reporting_tz("(s.slice_end - interval '1 microsecond')") }}),
        interval '1 month'
    ) as m (month_start)
),

down as (
    select
        sm.component,
        sm.month_start,
        sm.part_start,
        sm.part_end,
        coalesce(sum(extract(epoch from
            least(sm.part_end, coalesce(i.resolved_at, {{ as_of_timestamp() }})) - greatest(sm.part_start, i.started_at)
        )) filter (where i.incident_id is not null), 0) as incident_seconds
    from slice_months as sm
    left join incidents as i
        on i.component = sm.component
        and i.started_at < sm.part_end
        and coalesce(i.resolved_at, {{ as_of_timestamp() }}) > sm.part_start
    group by sm.component, sm.month_start, sm.part_start, sm.part_end
),

as_of_month as (
    select date_trunc('month', {{ to_reporting_tz(as_of_timestamp()) }})::date as current_month
),

final as (
    select
        d.component,
        d.month_start::date as month_start,
        sum(extract(epoch from d.part_end - d.part_start))::bigint as observed_seconds,
        sum(d.incident_seconds)::bigint as incident_seconds,
        (sum(extract(epoch from d.part_end - d.part_start)) - sum(d.incident_seconds))::bigint as up_seconds,
        d.month_start::date = a.current_month as is_current_month,
        d.month_start::date > (a.current_month - interval '12 months')::date
            and d.month_start::date <= a.current_month as is_last_12_months
    from down as d
    cross join as_of_month as a
    group by d.component, d.month_start, a.current_month
)

select * from final
