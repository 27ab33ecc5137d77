with

source as (
    select * from {{ source('crm', 'lead_status_history') }}
),

renamed as (
    select
        ---------- ids
        history_id,
        lead_id,
        ---------- text
        nullif(lower(trim(from_status)), '') as from_status,
        lower(trim(to_status)) as to_status,
        ---------- timestamps (UTC, as loaded)
        changed_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
