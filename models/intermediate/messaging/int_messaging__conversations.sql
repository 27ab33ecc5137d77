-- One row per Web1on1 conversation started up to the as-of moment, with the labels every messaging and
-- after-sales page groups by: organization name, device, touchpoint and inbox (the "no device", "no
-- touchpoint" and "no inbox" buckets, D40), location and department names.
with

conversations as (
    select * from {{ ref('stg_web1on1__conversations') }}
),

organizations as (
    select * from {{ ref('stg_web1on1__organizations') }}
),

locations as (
    select * from {{ ref('stg_web1on1__locations') }}
),

departments as (
    select * from {{ ref('stg_web1on1__departments') }}
),

final as (
    select
        conversations.conversation_id,
        -- a small integer per conversation: distinct counts sort integers, not 24-character ids
        row_number() over (order by conversations.conversation_id) as conversation_number,
        conversations.organization_id,
        organizations.name as organization_name,
        conversations.contact_id,
        conversations.location_id,
        conversations.department_id,
        coalesce(locations.name, 'no location') as location_name,
        coalesce(departments.name, 'no department') as department_name,
        conversations.channel,
        {{ messaging_channel_label('conversations.channel') }} as channel_label,
        {{ messaging_device_label('conversations.device') }} as device_label,
        case
            when conversations.inbox_id is null then 'no inbox'
            else coalesce(conversations.inbox_name, 'Inbox ' || conversations.inbox_id)
        end as inbox_label,
        case
            when conversations.inbox_id is null then 'no inbox'
            when conversations.inbox_owner = 'web1on1' then 'Web1on1'
            else 'Your organisation'
        end as inbox_owner_label,
        conversations.is_after_sales,
        conversations.url,
        conversations.created_at
    from conversations
    inner join organizations on conversations.organization_id = organizations.organization_id
    left join locations on conversations.location_id = locations.location_id
    left join departments on conversations.department_id = departments.department_id
    where {{ as_of_cut('conversations.created_at') }}
)

select * from final
