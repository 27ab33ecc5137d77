with

source as (
    select * from {{ source('web1on1', 'conversations') }}
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
    from latest
    where version_rank = 1
)

select * from renamed
