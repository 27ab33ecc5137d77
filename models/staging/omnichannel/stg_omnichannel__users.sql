with

source as (
    select * from {{ source('omnichannel', 'users') }}
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
    from source
)

select * from renamed
