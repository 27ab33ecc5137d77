-- Bison's own totals (pipeline_stats_cache) beside the warehouse's, one row per workspace and pipeline month.
-- Bison counts in UTC over the client's pipeline (renewal) month, so the warehouse counts over the same UTC
-- window; the *_local columns count the same month in America/Chicago, which shows how much of a difference is
-- the time zone alone (seed 004: "Bison uses UTC, dashboard uses CST"). Only whole months compare: the month
-- has ended by the as-of moment and Bison refreshed the row after it ended. Read by the Dagster asset check in
-- orchestration/defs/reconciliation.py. Pipeline months are used here and nowhere on a dashboard.
with

cache as (
    select * from {{ ref('stg_bison__pipeline_stats_cache') }}
),

workspaces as (
    select * from {{ ref('stg_bison__workspaces') }}
),

leads as (
    select * from {{ ref('stg_bison__leads') }}
),

events as (
    select * from {{ ref('int_bison__email_events_deduped') }}
),

windows as (
    select
        cache.workspace_id,
        cache.pipeline_month,
        (cache.pipeline_month + interval '1 month')::date as pipeline_month_end,
        cache.pipeline_month::timestamp at time zone 'UTC' as utc_start,
        (cache.pipeline_month + interval '1 month')::timestamp at time zone 'UTC' as utc_end,
        {{ to_reporting_tz_inverse('cache.pipeline_month::timestamp') }} as local_start,
        {{ to_reporting_tz_inverse("(cache.pipeline_month + interval '1 month')::timestamp") }} as local_end,
        cache.uploaded as vendor_uploaded,
        cache.emails_sent as vendor_emails_sent,
        cache.replied as vendor_replied,
        cache.interested as vendor_interested,
        cache.updated_at as vendor_refreshed_at
    from cache
),

-- every upload and event tagged with the window it falls in, in UTC and in local time
moments as (
    select
        workspace_id,
        'uploaded' as measure,
        lead_id::text as counted_id,
        created_at as occurred_at
    from leads
    union all
    select
        workspace_id,
        'emails_sent' as measure,
        scheduled_email_id::text as counted_id,
        occurred_at
    from events
    where event_type = 'email_sent'
    union all
    select
        workspace_id,
        'replied' as measure,
        lead_id::text as counted_id,
        occurred_at
    from events
    where event_type = 'contact_replied'
    union all
    select
        workspace_id,
        'interested' as measure,
        lead_id::text as counted_id,
        occurred_at
    from events
    where event_type = 'contact_interested' or is_interested
),

windowed_moments as (
    select
        windows.workspace_id,
        windows.pipeline_month,
        moments.measure,
        moments.counted_id,
        moments.occurred_at >= windows.utc_start and moments.occurred_at < windows.utc_end as in_utc,
        moments.occurred_at >= windows.local_start and moments.occurred_at < windows.local_end as in_local
    from windows
    inner join moments
        on windows.workspace_id = moments.workspace_id
            and moments.occurred_at >= least(windows.utc_start, windows.local_start)
            and moments.occurred_at < greatest(windows.utc_end, windows.local_end)
),

counted as (
    select
        workspace_id,
        pipeline_month,
        count(distinct counted_id) filter (where measure = 'uploaded' and in_utc) as uploaded,
        count(distinct counted_id) filter (where measure = 'emails_sent' and in_utc) as emails_sent,
        count(distinct counted_id) filter (where measure = 'replied' and in_utc) as replied,
        count(distinct counted_id) filter (where measure = 'interested' and in_utc) as interested,
        count(distinct counted_id) filter (where measure = 'uploaded' and in_local) as uploaded_local,
        count(distinct counted_id) filter (where measure = 'emails_sent' and in_local) as emails_sent_local,
        count(distinct counted_id) filter (where measure = 'replied' and in_local) as replied_local,
        count(distinct counted_id) filter (where measure = 'interested' and in_local) as interested_local
    from windowed_moments
    group by workspace_id, pipeline_month
),

final as (
    select
        windows.workspace_id,
        workspaces.name as workspace_name,
        windows.pipeline_month,
        windows.pipeline_month_end,
        windows.vendor_refreshed_at,
        windows.utc_end <= {{ as_of_timestamp() }} and windows.vendor_refreshed_at >= windows.utc_end as is_whole_month,
        windows.vendor_uploaded,
        coalesce(counted.uploaded, 0)::integer as warehouse_uploaded,
        coalesce(counted.uploaded_local, 0)::integer as warehouse_uploaded_local,
        windows.vendor_emails_sent,
        coalesce(counted.emails_sent, 0)::integer as warehouse_emails_sent,
        coalesce(counted.emails_sent_local, 0)::integer as warehouse_emails_sent_local,
        windows.vendor_replied,
        coalesce(counted.replied, 0)::integer as warehouse_replied,
        coalesce(counted.replied_local, 0)::integer as warehouse_replied_local,
        windows.vendor_interested,
        coalesce(counted.interested, 0)::integer as warehouse_interested,
        coalesce(counted.interested_local, 0)::integer as warehouse_interested_local
    from windows
    left join counted
        on windows.workspace_id = counted.workspace_id and windows.pipeline_month = counted.pipeline_month
    left join workspaces on windows.workspace_id = workspaces.workspace_id
)

select * from final
