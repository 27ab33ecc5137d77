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
        {{ to_reporting_tz_inverse("(date_trunc('month', " ~ to_reporting_tz('slice_start') ~ ") + interval '1 month')") }}
            as month_end
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
        month_start + interval '1 month',
        month_end,
        slice_end
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
        p.component,
        p.month_start,
        sum(extract(
            epoch from
            least(p.part_end, coalesce(i.resolved_at, {{ as_of_timestamp() }})) - greatest(p.part_start, i.started_at)
        )) as incident_seconds
    from parts as p
    inner join incidents as i
        on p.component = i.component
            and p.part_end > i.started_at
            and coalesce(i.resolved_at, {{ as_of_timestamp() }}) > p.part_start
    group by p.component, p.month_start
),

as_of_month as (
    select date_trunc('month', {{ to_reporting_tz(as_of_timestamp()) }})::date as current_month
),

final as (
    select
        o.component,
        o.month_start::date as month_start,
        o.observed_seconds::bigint as observed_seconds,
        coalesce(d.incident_seconds, 0)::bigint as incident_seconds,
        (o.observed_seconds - coalesce(d.incident_seconds, 0))::bigint as up_seconds,
        o.month_start::date = a.current_month as is_current_month,
        o.month_start::date > (a.current_month - interval '12 months')::date
        and o.month_start::date <= a.current_month as is_last_12_months
    from observed as o
    left join down as d on o.component = d.component and o.month_start = d.month_start
    cross join as_of_month as a
)

select * from final
