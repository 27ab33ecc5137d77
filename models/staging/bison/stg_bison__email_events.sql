with

source as (
    select * from {{ source('bison', 'email_events') }}
),

renamed as (
    select
        ---------- ids
        id as email_event_id,
        workspace_id,
        campaign_id,
        lead_id,
        scheduled_email_id,
        ---------- text
        lower(trim(event_type)) as event_type,
        sender_email,
        ---------- booleans
        is_interested,
        ---------- timestamps (UTC, as loaded)
        occurred_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
