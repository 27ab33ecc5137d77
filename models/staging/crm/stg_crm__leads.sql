with

source as (
    select * from {{ source('crm', 'leads') }}
),

renamed as (
    select
        ---------- ids
        lead_id,
        assigned_agent_id,
        location_id,
        ---------- text
        trim(source) as source,
        lower(trim(status)) as status,
        lower(trim(priority)) as priority,
        email,
        phone,
        ---------- numerics
        score,
        ---------- normalised and derived
        {{ normalize_email('email') }} as email_normalized,
        {{ normalize_phone('phone') }} as phone_normalized,
        ---------- timestamps (UTC, as loaded)
        created_at,
        assigned_at,
        updated_at,
        sms_consent_at,
        email_consent_at,
        sms_opt_out_at,
        email_opt_out_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
