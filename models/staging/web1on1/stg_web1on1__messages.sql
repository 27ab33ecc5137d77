with

source as (
    select * from {{ source('web1on1', 'messages') }}
),

renamed as (
    select
        ---------- ids
        id as message_id,
        organization_id,
        conversation_id,
        author_id,
        ---------- text
        lower(trim(author_type)) as author_type,
        nullif(lower(trim(channel)), '') as channel,
        ---------- timestamps (UTC, as loaded)
        created_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
