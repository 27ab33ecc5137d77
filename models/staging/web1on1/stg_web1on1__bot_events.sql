with

source as (
    select * from {{ source('web1on1', 'bot_events') }}
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
        id as bot_event_id,
        organization_id,
        bot_id,
        conversation_id,
        ---------- text
        lower(trim(event_type)) as event_type,
        ---------- numerics
        points,
        ---------- timestamps (UTC, as loaded)
        occurred_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from latest
    where version_rank = 1
)

select * from renamed
