with

source as (
    select * from {{ source('omnichannel', 'message_blasts') }}
),

latest as (
    -- guard: the loader already upserts by blast_id; keep the newest version should a duplicate land
    select
        *,
        row_number() over (partition by blast_id order by updated_at desc, _loaded_at desc) as version_rank
    from source
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
    from latest
    where version_rank = 1
)

select * from renamed
