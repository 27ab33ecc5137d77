with

source as (
    select * from {{ source('crm', 'leads') }}
),

latest as (
    -- guard: the loader already upserts by lead_id; keep the newest version should a duplicate land
    select
        *,
        row_number() over (partition by lead_id order by updated_at desc, _loaded_at desc) as version_rank
    from source
),

renamed as (
    select
        ---------- ids
        lead_id,
        assigned_agent_id,
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
        updated_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from latest
    where version_rank = 1
)

select * from renamed
