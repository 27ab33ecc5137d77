{{ config(indexes=[{'columns': ['calendar_date']}]) }}
-- The user pages of the Messaging dashboard (Per Role and Level, Per User; seed 003): one row per user,
-- conversation and local date on which the user wrote messages or joined sessions, with the user's level, role
-- and name. The three user metrics (D43) count these: messages written, sessions joined, conversations with a
-- message by the user.
with

messages as (
    select * from {{ ref('int_messaging__messages') }}
),

sessions as (
    select * from {{ ref('int_messaging__sessions') }}
),

users as (
    select * from {{ ref('int_messaging__users') }}
),

conversations as (
    select * from {{ ref('int_messaging__conversations') }}
),

activity as (
    select
        author_id as user_id,
        conversation_id,
        local_date,
        count(*) as messages_sent,
        0 as sessions_joined
    from messages
    where author_type = 'user' and author_id is not null
    group by author_id, conversation_id, local_date
    union all
    select
        user_id,
        conversation_id,
        local_date,
        0 as messages_sent,
        count(*) as sessions_joined
    from sessions
    where user_id is not null
    group by user_id, conversation_id, local_date
),

per_day as (
    select
        user_id,
        conversation_id,
        local_date as calendar_date,
        sum(messages_sent)::integer as messages_sent,
        sum(sessions_joined)::integer as sessions_joined
    from activity
    group by user_id, conversation_id, local_date
),

final as (
    select
        conversations.organization_id,
        conversations.organization_name,
        per_day.calendar_date,
        per_day.user_id,
        per_day.conversation_id,
        users.user_label,
        users.level,
        users.level_label,
        users.role_label,
        per_day.messages_sent,
        per_day.sessions_joined,
        case when per_day.messages_sent > 0 then conversations.conversation_number end as messaged_conversation_number
    from per_day
    inner join users on per_day.user_id = users.user_id
    inner join conversations on per_day.conversation_id = conversations.conversation_id
)

select * from final
