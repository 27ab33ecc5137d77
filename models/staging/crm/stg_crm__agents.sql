with

source as (
    select * from {{ source('crm', 'agents') }}
),

renamed as (
    select
        ---------- ids
        agent_id,
        location_id,
        ---------- text
        name,
        trim(team) as team,
        ---------- numerics
        hourly_rate,
        ---------- booleans
        active,
        ---------- dates
        hired_at as hired_date,
        terminated_at as terminated_date,
        ---------- timestamps (UTC, as loaded)
        updated_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
