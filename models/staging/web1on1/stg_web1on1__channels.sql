with

source as (
    select * from {{ source('web1on1', 'channels') }}
),

renamed as (
    select
        ---------- ids
        id as channel_id,
        organization_id,
        ---------- text
        nullif(lower(trim(channel)), '') as channel,
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
