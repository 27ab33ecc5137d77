with

source as (
    select * from {{ source('crm', 'workflow_events') }}
),

renamed as (
    select
        ---------- ids
        event_id,
        lead_id,
        execution_id,
        ---------- text
        lower(trim(step)) as step,
        lower(trim(component)) as component,
        lower(trim(status)) as status,
        nullif(lower(trim(error_category)), '') as error_category,
        trim(vendor) as vendor,
        ---------- numerics
        attempt,
        http_status,
        latency_ms,
        rate_limit_remaining,
        rate_limit_limit,
        ---------- timestamps (UTC, as loaded)
        occurred_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
