with

source as (
    select * from {{ source('bison', 'leads') }}
),

renamed as (
    select
        ---------- ids
        id as lead_id,
        workspace_id,
        campaign_id,
        ---------- text
        email,
        lower(trim(status)) as status,
        ---------- normalised and derived
        {{ normalize_email('email') }} as email_normalized,
        ---------- timestamps (UTC, as loaded)
        created_at,
        updated_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
