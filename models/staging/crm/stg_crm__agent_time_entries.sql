with

source as (
    select * from {{ source('crm', 'agent_time_entries') }}
),

renamed as (
    select
        ---------- key (the grain)
        agent_id,
        work_date,
        lower(trim(category)) as category,
        ---------- numerics
        minutes,
        ---------- timestamps (UTC, as loaded)
        updated_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
