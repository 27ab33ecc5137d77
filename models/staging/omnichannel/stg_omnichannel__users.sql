with

source as (
    select * from {{ source('omnichannel', 'users') }}
),

latest as (
    -- guard: the loader already upserts by user_id; keep the newest version should a duplicate land
    select
        *,
        row_number() over (partition by user_id order by updated_at desc, _loaded_at desc) as version_rank
    from source
),

renamed as (
    select
        ---------- ids
        user_id,
        ---------- text
        company,
        nullif(lower(trim(plan)), '') as plan,
        ---------- timestamps (UTC, as loaded)
        registered_at,
        updated_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from latest
    where version_rank = 1
)

select * from renamed
