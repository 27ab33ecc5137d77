with

source as (
    select * from {{ source('crm', 'agent_rates') }}
),

renamed as (
    select
        ---------- key (the grain)
        agent_id,
        valid_from,
        ---------- numerics
        hourly_rate,
        ---------- dates derived: the rate applies until the agent's next rate starts
        lead(valid_from) over (partition by agent_id order by valid_from) as valid_to,
        ---------- timestamps (UTC, as loaded)
        updated_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
