with

source as (
    select * from {{ source('crm', 'activities') }}
),

renamed as (
    select
        ---------- ids
        activity_id,
        lead_id,
        agent_id,
        ---------- text
        lower(trim(channel)) as channel,
        lower(trim(direction)) as direction,
        ---------- booleans
        is_automated,
        ---------- timestamps (UTC, as loaded)
        occurred_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
