with

source as (
    select * from {{ source('web1on1', 'conversations') }}
),

renamed as (
    select
        ---------- ids
        id as conversation_id,
        organization_id,
        contact_id,
        location_id,
        department_id,
        inbox_id,
        ---------- text
        nullif(lower(trim(channel)), '') as channel,
        nullif(lower(trim(device)), '') as device,
        inbox_name,
        nullif(lower(trim(inbox_owner)), '') as inbox_owner,
        url,
        ---------- booleans
        is_after_sales,
        ---------- timestamps (UTC, as loaded)
        created_at,
        closed_at,
        updated_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
