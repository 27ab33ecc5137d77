with

source as (
    select * from {{ source('web1on1', 'visitor_events') }}
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
        id as visitor_event_id,
        organization_id,
        cookie_id,
        ---------- text
        page_url,
        ---------- timestamps (UTC, as loaded)
        occurred_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from latest
    where version_rank = 1
)

select * from renamed
