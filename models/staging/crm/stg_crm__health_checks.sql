with

source as (
    select * from {{ source('crm', 'health_checks') }}
),

renamed as (
    select
        ---------- keys
        lower(trim(component)) as component,
        checked_at,
        ---------- outcome
        ok,
        http_status,
        latency_ms,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
