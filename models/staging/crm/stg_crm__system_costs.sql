with

source as (
    select * from {{ source('crm', 'system_costs') }}
),

renamed as (
    select
        ---------- key (the grain)
        month,
        lower(trim(category)) as category,
        ---------- numerics
        amount,
        ---------- timestamps (UTC, as loaded)
        updated_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
