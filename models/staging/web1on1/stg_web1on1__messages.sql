with

source as (
    select * from {{ source('web1on1', 'messages') }}
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
        id as message_id,
        organization_id,
        conversation_id,
        author_id,
        ---------- text
        lower(trim(author_type)) as author_type,
        nullif(lower(trim(channel)), '') as channel,
        ---------- timestamps (UTC, as loaded)
        created_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from latest
    where version_rank = 1
)

select * from renamed
