with

source as (
    select * from {{ source('web1on1', 'contacts') }}
),

renamed as (
    select
        ---------- ids
        id as contact_id,
        organization_id,
        ---------- text
        email,
        phone,
        ---------- normalised and derived
        {{ normalize_email('email') }} as email_normalized,
        {{ normalize_phone('phone') }} as phone_normalized,
        ---------- timestamps (UTC, as loaded)
        created_at,
        updated_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
