with

source as (
    select * from {{ source('crm', 'deals') }}
),

renamed as (
    select
        ---------- ids
        deal_id,
        lead_id,
        agent_id,
        ---------- text
        lower(trim(status)) as status,
        nullif(lower(trim(attribution_type)), '') as attribution_type,
        nullif(lower(trim(close_channel)), '') as close_channel,
        ---------- numerics
        value,
        ---------- timestamps (UTC, as loaded)
        created_at,
        closed_at,
        updated_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
