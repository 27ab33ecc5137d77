with

source as (
    select * from {{ source('web1on1', 'departments') }}
),

renamed as (
    select
        ---------- ids
        id as department_id,
        organization_id,
        location_id,
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
    from source
)

select * from renamed
