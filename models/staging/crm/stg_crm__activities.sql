with

source as (
    select * from {{ source('crm', 'activities') }}
),

latest as (
    -- guard: the loader already upserts by activity_id; keep the newest version should a duplicate land
    select
        *,
        row_number() over (partition by activity_id order by _loaded_at desc) as version_rank
    from source
),

renamed as (
    select
        ---------- ids
        activity_id,
        lead_id,
        agent_id,
        ---------- text
        lower(trim(channel)) as channel,
        lower(trim(direction)) as direction,
        ---------- booleans
        is_automated,
        ---------- timestamps (UTC, as loaded)
        occurred_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from latest
    where version_rank = 1
)

select * from renamed
