with

source as (
    select * from {{ source('web1on1', 'locations') }}
),

latest as (
    -- guard: the loader already upserts by id; keep the newest version should a duplicate land
    select
        *,
        row_number() over (partition by id order by updated_at desc, _loaded_at desc) as version_rank
    from source
),

renamed as (
    select
        ---------- ids
        id as location_id,
        organization_id,
        ---------- text
        name,
        ---------- booleans
        active,
        ---------- timestamps (UTC, as loaded)
        created_at,
        updated_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from latest
    where version_rank = 1
)

select * from renamed
