with

source as (
    select * from {{ source('omnichannel', 'invitations') }}
),

latest as (
    -- guard: the loader already upserts by invitation_id; keep the newest version should a duplicate land
    select
        *,
        row_number() over (partition by invitation_id order by updated_at desc, _loaded_at desc) as version_rank
    from source
),

renamed as (
    select
        ---------- ids
        invitation_id,
        user_id,
        ---------- text
        email,
        ---------- timestamps (UTC, as loaded)
        invited_at,
        activated_at,
        updated_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from latest
    where version_rank = 1
)

select * from renamed
