with

source as (
    select * from {{ source('web1on1', 'users') }}
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
        id as user_id,
        organization_id,
        location_id,
        department_id,
        ---------- text
        name,
        lower(trim(role)) as role,
        ---------- numerics
        level,
        ---------- booleans
        active,
        ---------- normalised and derived
        level in (0, 1) as is_web1on1_agent,
        lower(trim(role)) = 'guest' as is_guest,
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
