with

source as (
    select * from {{ source('omnichannel', 'invitations') }}
),

renamed as (
    select
        ---------- ids
        invitation_id,
        user_id,
        ---------- text
        email,
        ---------- normalised and derived
        {{ normalize_email('email') }} as email_normalized,
        ---------- timestamps (UTC, as loaded)
        invited_at,
        activated_at,
        updated_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
