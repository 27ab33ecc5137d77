with

source as (
    select * from {{ source('omnichannel', 'message_blasts') }}
),

renamed as (
    select
        ---------- ids
        blast_id,
        user_id,
        ---------- text
        lower(trim(channel)) as channel,
        lower(trim(category)) as category,
        ---------- numerics
        recipients,
        delivered,
        ---------- timestamps (UTC, as loaded)
        created_at,
        sent_at,
        updated_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
