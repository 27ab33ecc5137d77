with

source as (
    select * from {{ source('omnichannel', 'user_activity') }}
),

latest as (
    -- guard: the loader already upserts by event_id; keep the newest version should a duplicate land
    select
        *,
        row_number() over (partition by event_id order by _loaded_at desc) as version_rank
    from source
),

renamed as (
    select
        ---------- ids
        event_id,
        user_id,
        ---------- text
        lower(trim(event_type)) as event_type,
        ---------- timestamps (UTC, as loaded)
        occurred_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from latest
    where version_rank = 1
)

select * from renamed
