with

source as (
    select * from {{ source('web1on1', 'after_sales_invitations') }}
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
    from source
)

select * from renamed
