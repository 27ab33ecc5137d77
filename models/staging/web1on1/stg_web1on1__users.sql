with

source as (
    select * from {{ source('web1on1', 'users') }}
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
    from source
)

select * from renamed
