with

source as (
    select * from {{ source('web1on1', 'visitor_events') }}
),

renamed as (
    select
        ---------- ids
        id as visitor_event_id,
        organization_id,
        cookie_id,
        ---------- text
        page_url,
        ---------- timestamps (UTC, as loaded)
        occurred_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
