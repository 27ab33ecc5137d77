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
    -- a slice lies in the local month it starts in, up to the month's end; the rest (a slice is at most one
    -- interval long, so it crosses at most one boundary) in the next month
    select
        component,
        slice_start,
        slice_end,
        date_trunc('month', {{ to_reporting_tz('slice_start') }}) as month_start,
        {{ to_reporting_tz_inverse(
            "(date_trunc('month', " ~ to_reporting_tz('slice_start') ~ ") + interval '1 month')"
        ) }} as month_end
    from slices
),

parts as (
    select
        component,
        month_start,
        slice_start as part_start,
        least(slice_end, month_end) as part_end
    from slice_months
    union all
    select
        component,
        month_start + interval '1 month' as month_start,
        month_end as part_start,
        slice_end as part_end
    from slice_months
    where slice_end > month_end
),

observed as (
    select
        component,
        month_start,
        sum(extract(epoch from part_end - part_start)) as observed_seconds
    from parts
    group by component, month_start
),

down as (
    select
        prt.component,
        prt.month_start,
        sum(extract(
            epoch from
            least(prt.part_end, coalesce(inc.resolved_at, {{ as_of_timestamp() }}))
            - greatest(prt.part_start, inc.started_at)
        )) as incident_seconds
    from parts as prt
    inner join incidents as inc
        on prt.component = inc.component
            and prt.part_end > inc.started_at
            and coalesce(inc.resolved_at, {{ as_of_timestamp() }}) > prt.part_start
    group by prt.component, prt.month_start
),

as_of_month as (
    select date_trunc('month', {{ to_reporting_tz(as_of_timestamp()) }})::date as current_month
),

final as (
    select
        obs.component,
        obs.month_start::date as month_start,
        obs.observed_seconds::bigint as observed_seconds,
        coalesce(dwn.incident_seconds, 0)::bigint as incident_seconds,
        (obs.observed_seconds - coalesce(dwn.incident_seconds, 0))::bigint as up_seconds,
        obs.month_start::date = aso.current_month as is_current_month,
        obs.month_start::date > (aso.current_month - interval '12 months')::date
        and obs.month_start::date <= aso.current_month as is_last_12_months
    from observed as obs
    left join down as dwn on obs.component = dwn.component and obs.month_start = dwn.month_start
    cross join as_of_month as aso
)

select * from final
