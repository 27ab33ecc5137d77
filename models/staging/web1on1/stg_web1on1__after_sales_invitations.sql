with

source as (
    select * from {{ source('web1on1', 'after_sales_invitations') }}
),

latest as (
    -- guard: the loader already upserts by id; keep the newest version should a duplicate land
    select
        *,
        row_number() over (partition by id order by updated_at desc, _loaded_at desc) as version_rank
    from source
),

renamed as (
    select
        ---------- ids
        id as invitation_id,
        organization_id,
        conversation_id,
        contact_id,
        location_id,
        department_id,
        user_id,
        ---------- numerics
        updates_shared,
        ---------- timestamps (UTC, as loaded)
        sent_at,
        contact_joined_at,
        dealer_joined_at,
        first_update_shared_at,
        updated_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from latest
    where version_rank = 1
)

select * from renamed
