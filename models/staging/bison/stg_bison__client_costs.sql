with

source as (
    select * from {{ source('bison', 'client_costs') }}
),

latest as (
    -- guard: the loader already upserts by workspace_id + month; keep the newest version should a duplicate land
    select
        *,
        row_number() over (partition by workspace_id, month order by updated_at desc, _loaded_at desc) as version_rank
    from source
),

renamed as (
    select
        ---------- key (the grain)
        workspace_id,
        month,
        ---------- numerics
        email_account_costs,
        labor_costs,
        other_costs,
        total_costs,
        client_revenue,
        ---------- timestamps (UTC, as loaded)
        updated_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from latest
    where version_rank = 1
)

select * from renamed
