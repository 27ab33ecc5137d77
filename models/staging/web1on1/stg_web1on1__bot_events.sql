with

source as (
    select * from {{ source('web1on1', 'bot_events') }}
),

renamed as (
    select
        ---------- ids
        id as bot_event_id,
        organization_id,
        bot_id,
        conversation_id,
        ---------- text
        lower(trim(event_type)) as event_type,
        ---------- numerics
        points,
        ---------- timestamps (UTC, as loaded)
        occurred_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
