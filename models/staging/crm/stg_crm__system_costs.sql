with

source as (
    select * from {{ source('crm', 'system_costs') }}
),

latest as (
    -- guard: the loader already upserts by month + category; keep the newest version should a duplicate land
    select
        *,
        row_number() over (partition by month, category order by updated_at desc, _loaded_at desc) as version_rank
    from source
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
    from latest
    where version_rank = 1
)

select * from renamed
