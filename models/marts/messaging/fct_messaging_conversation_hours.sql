{{ config(indexes=[{'columns': ['calendar_date']}]) }}
-- The Messaging dashboard (seed 003): one row per conversation and local hour in which it had messaging (a
-- message by a contact, user or bot, a session started, or its first result), with the five messaging measures
-- and the labels the pages group by; plus one row per organization and local date (hour 0, no measures) that
-- lists the "no device", "no touchpoint" and "no inbox" buckets on every day and lets the Distribution heatmap
-- count the days in the date range (D40, D41).
with

conversations as (
    select * from {{ ref('int_messaging__conversations') }}
),

messages as (
    select * from {{ ref('int_messaging__messages') }}
),

sessions as (
    select * from {{ ref('int_messaging__sessions') }}
),

chats as (
    select * from {{ ref('int_messaging__chats') }}
),

organization_days as (
    select * from {{ ref('int_messaging__organization_days') }}
),

calendar as (
    select * from {{ ref('dim_calendar') }}
),

activity as (
    select
        conversation_id,
        local_date,
        local_hour,
        count(*) as messages,
        0 as sessions,
        0 as effective_chats,
        0 as leads
    from messages
    group by conversation_id, local_date, local_hour
    union all
    select
        conversation_id,
        local_date,
        local_hour,
        0 as messages,
        count(*) as sessions,
        0 as effective_chats,
        0 as leads
    from sessions
    group by conversation_id, local_date, local_hour
    union all
    select
        conversation_id,
        first_result_date as local_date,
        first_result_hour as local_hour,
        0 as messages,
        0 as sessions,
        1 as effective_chats,
        case when is_lead then 1 else 0 end as leads
    from chats
),

per_hour as (
    select
        conversation_id,
        local_date as calendar_date,
        local_hour as hour_of_day,
        sum(messages)::integer as messages,
        sum(sessions)::integer as sessions,
        sum(effective_chats)::integer as effective_chats,
        sum(leads)::integer as leads
    from activity
    group by conversation_id, local_date, local_hour
),

conversation_rows as (
    select
        conversations.organization_id,
        conversations.organization_name,
        per_hour.calendar_date,
        per_hour.hour_of_day,
        per_hour.conversation_id as conversation_key,
        per_hour.conversation_id,
        conversations.conversation_number,
        conversations.device_label,
        conversations.channel_label,
        conversations.inbox_label,
        conversations.inbox_owner_label,
        chats.chat_category,
        per_hour.messages,
        per_hour.sessions,
        per_hour.effective_chats,
        per_hour.leads
    from per_hour
    inner join conversations on per_hour.conversation_id = conversations.conversation_id
    left join chats on per_hour.conversation_id = chats.conversation_id
),

day_rows as (
    select
        organization_id,
        organization_name,
        calendar_date,
        0 as hour_of_day,
        'no conversation' as conversation_key,
        null::text as conversation_id,
        null::bigint as conversation_number,
        'no device' as device_label,
        'no touchpoint' as channel_label,
        'no inbox' as inbox_label,
        'no inbox' as inbox_owner_label,
        null::text as chat_category,
        0 as messages,
        0 as sessions,
        0 as effective_chats,
        0 as leads
    from organization_days
),

unioned as (
    select * from conversation_rows
    union all
    select * from day_rows
),

final as (
    select
        unioned.organization_id,
        unioned.organization_name,
        unioned.calendar_date,
        unioned.hour_of_day,
        calendar.iso_weekday,
        calendar.iso_weekday || ' ' || left(calendar.weekday_name, 3) as weekday,
        unioned.conversation_key,
        unioned.conversation_id,
        unioned.conversation_number,
        unioned.device_label,
        unioned.channel_label,
        unioned.inbox_label,
        unioned.inbox_owner_label,
        unioned.chat_category,
        unioned.messages,
        unioned.sessions,
        unioned.effective_chats,
        unioned.leads,
        case when unioned.messages > 0 then unioned.conversation_number end as active_conversation_number,
        case when unioned.messages > 0 then 1 else 0 end as is_active_hour
    from unioned
    inner join calendar on unioned.calendar_date = calendar.calendar_date
)

select * from final
