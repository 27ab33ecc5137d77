with

source as (
    select * from {{ source('crm', 'lead_status_history') }}
),

latest as (
    -- guard: the loader already upserts by history_id; keep the newest version should a duplicate land
    select
        *,
        row_number() over (partition by history_id order by _loaded_at desc) as version_rank
    from source
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
    from latest
    where version_rank = 1
)

select * from renamed
