with

source as (
    select * from {{ source('web1on1', 'sessions') }}
),

renamed as (
    select
        ---------- ids
        id as session_id,
        organization_id,
        conversation_id,
        user_id,
        ---------- text
        nullif(lower(trim(channel)), '') as channel,
        ---------- timestamps (UTC, as loaded)
        started_at,
        ended_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
