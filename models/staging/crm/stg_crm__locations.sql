with

source as (
    select * from {{ source('crm', 'locations') }}
),

renamed as (
    select
        ---------- ids
        location_id,
        ---------- text
        trim(name) as location_name,
        trim(organization_name) as organization_name,
        trim(timezone) as timezone,
        ---------- timestamps (UTC, as loaded)
        updated_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
