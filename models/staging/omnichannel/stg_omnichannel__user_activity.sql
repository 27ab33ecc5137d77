with

source as (
    select * from {{ source('omnichannel', 'user_activity') }}
),

renamed as (
    select
        ---------- ids
        event_id,
        user_id,
        ---------- text
        lower(trim(event_type)) as event_type,
        ---------- timestamps (UTC, as loaded)
        occurred_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
