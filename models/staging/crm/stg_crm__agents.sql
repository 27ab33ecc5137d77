with

source as (
    select * from {{ source('crm', 'agents') }}
),

latest as (
    -- guard: the loader already upserts by agent_id; keep the newest version should a duplicate land
    select
        *,
        row_number() over (partition by agent_id order by updated_at desc, _loaded_at desc) as version_rank
    from source
),

renamed as (
    select
        ---------- ids
        agent_id,
        ---------- text
        name,
        trim(team) as team,
        ---------- numerics
        hourly_rate,
        ---------- booleans
        active,
        ---------- dates
        hired_at as hired_date,
        ---------- timestamps (UTC, as loaded)
        updated_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from latest
    where version_rank = 1
)

select * from renamed
