with

source as (
    select * from {{ source('web1on1', 'sessions') }}
),

latest as (
    -- guard: the loader already upserts by id; keep the newest version should a duplicate land
    select
        *,
        row_number() over (partition by id order by _loaded_at desc) as version_rank
    from source
),

renamed as (
    select
        ---------- ids
        id as session_id,
        organization_id,
        conversation_id,
        user_id,
        ---------- text
        nullif(lower(trim(channel)), '') as channel,
        ---------- timestamps (UTC, as loaded)
        started_at,
        ended_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from latest
    where version_rank = 1
)

select * from renamed
