{{ config(indexes=[{'columns': ['calendar_date']}]) }}
-- After Sales metrics (seed 003): one row per after-sales conversation, local date, acting user and touchpoint with
-- that day's sessions, messages, results and captured fields, located at the conversation's location and
-- department (D44, D84). Plus "listed" rows, dated the as-of date and without measures, one per active channel,
-- per active own user (at their home location and department) and per active department: the entities every
-- after-sales table lists with zeros when they had no activity (cards set `listed_by`).
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

results as (
    select * from {{ ref('stg_web1on1__results') }}
),

users as (
    select * from {{ ref('int_messaging__users') }}
),

organizations as (
    select * from {{ ref('stg_web1on1__organizations') }}
),

channels as (
    select * from {{ ref('stg_web1on1__channels') }}
),

locations as (
    select * from {{ ref('stg_web1on1__locations') }}
),

departments as (
    select * from {{ ref('stg_web1on1__departments') }}
),

as_of as (
    select * from {{ ref('int_common__as_of_date') }}
),

after_sales as (
    select * from conversations
    where is_after_sales
),

events as (
    select
        conversation_id,
        local_date,
        user_id,
        channel,
        1 as sessions,
        0 as messages,
        0 as results,
        0 as fields
    from sessions
    union all
    select
        conversation_id,
        local_date,
        case when author_type = 'user' then author_id end as user_id,
        channel,
        0 as sessions,
        1 as messages,
        0 as results,
        0 as fields
    from messages
    union all
    select
        results.conversation_id,
        {{ reporting_date('results.created_at') }} as local_date,
        results.user_id,
        after_sales.channel,
        0 as sessions,
        0 as messages,
        1 as results,
        (
            select count(*) from jsonb_each_text(coalesce(results.fields, '{}'::jsonb)) as field
            where nullif(trim(field.value), '') is not null
        ) as fields
    from results
    inner join after_sales on results.conversation_id = after_sales.conversation_id
    where {{ as_of_cut('results.created_at') }}
),

per_day as (
    select
        events.conversation_id,
        events.local_date as calendar_date,
        events.user_id,
        events.channel,
        sum(events.sessions)::integer as sessions,
        sum(events.messages)::integer as messages,
        sum(events.results)::integer as results,
        sum(events.fields)::integer as fields
    from events
    inner join after_sales on events.conversation_id = after_sales.conversation_id
    group by events.conversation_id, events.local_date, events.user_id, events.channel
),

activity_rows as (
    select
        after_sales.organization_id,
        after_sales.organization_name,
        per_day.calendar_date,
        per_day.conversation_id as conversation_key,
        coalesce(after_sales.location_id, 'none') as location_key,
        coalesce(after_sales.department_id, 'none') as department_key,
        coalesce(per_day.user_id, 'none') as user_key,
        coalesce(per_day.channel, 'none') as channel_key,
        per_day.conversation_id,
        after_sales.location_name,
        after_sales.department_name,
        coalesce(users.user_label, 'no user') as user_label,
        {{ messaging_channel_label('per_day.channel') }} as channel_label,
        false as is_listed,
        per_day.sessions,
        per_day.messages,
        per_day.results,
        per_day.fields,
        case when per_day.sessions > 0 then after_sales.conversation_number end as session_conversation_number
    from per_day
    inner join after_sales on per_day.conversation_id = after_sales.conversation_id
    left join users on per_day.user_id = users.user_id
),

listed_entities as (
    -- every active channel of the organization
    select
        organization_id,
        'none' as location_key,
        'none' as department_key,
        'none' as user_key,
        channel as channel_key,
        'no location' as location_name,
        'no department' as department_name,
        'no user' as user_label,
        {{ messaging_channel_label('channel') }} as channel_label
    from channels
    where active
    union all
    -- every active user of the client's own organisation (not guests), at their home location and department
    select
        organization_id,
        coalesce(location_id, 'none') as location_key,
        coalesce(department_id, 'none') as department_key,
        user_id as user_key,
        'none' as channel_key,
        location_name,
        department_name,
        user_label,
        'no touchpoint' as channel_label
    from users
    where active and is_own_organisation and not is_guest
    union all
    -- every active department of an active location
    select
        departments.organization_id,
        departments.location_id as location_key,
        departments.department_id as department_key,
        'none' as user_key,
        'none' as channel_key,
        locations.name as location_name,
        departments.name as department_name,
        'no user' as user_label,
        'no touchpoint' as channel_label
    from departments
    inner join locations on departments.location_id = locations.location_id
    where departments.active and locations.active
),

listed_rows as (
    select
        listed_entities.organization_id,
        organizations.name as organization_name,
        as_of.as_of_date as calendar_date,
        'listed' as conversation_key,
        listed_entities.location_key,
        listed_entities.department_key,
        listed_entities.user_key,
        listed_entities.channel_key,
        null::text as conversation_id,
        listed_entities.location_name,
        listed_entities.department_name,
        listed_entities.user_label,
        listed_entities.channel_label,
        true as is_listed,
        null::integer as sessions,
        null::integer as messages,
        null::integer as results,
        null::integer as fields,
        null::bigint as session_conversation_number
    from listed_entities
    cross join as_of
    inner join organizations on listed_entities.organization_id = organizations.organization_id
),

final as (
    select * from activity_rows
    union all
    select * from listed_rows
)

select * from final
