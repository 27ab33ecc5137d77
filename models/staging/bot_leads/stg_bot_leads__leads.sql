with

source as (
    select * from {{ source('bot_leads', 'leads') }}
),

renamed as (
    select
        ---------- ids
        lead_id,
        ---------- text
        trim(source) as source,
        lower(trim(bot_type)) as bot_type,
        trim(service_needed) as service_needed,
        lower(trim(status)) as status,
        name,
        email,
        phone,
        region,
        ---------- numerics
        confidence_score,
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
