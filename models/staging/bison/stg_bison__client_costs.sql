with

source as (
    select * from {{ source('bison', 'client_costs') }}
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
    from source
)

select * from renamed
