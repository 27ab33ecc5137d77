-- The Potential dashboard (seed 003): one row per organization and local date, dense from the organization's
-- creation to the as-of date, carrying its MONTH's figures: engaged contacts and active users (distinct over the
-- month), counted website visits and lead / service / bot chats, and the potentials configured on the month's last
-- day (the as-of date for the current month). The charts are monthly and a month is shown whole when any of its
-- days is in the date range; the metrics read one day per month (semi-additive on the date, D81).
with

organization_days as (
    select * from {{ ref('int_messaging__organization_days') }}
),

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

invitations as (
    select * from {{ ref('stg_web1on1__after_sales_invitations') }}
),

users as (
    select * from {{ ref('int_messaging__users') }}
),

chats as (
    select * from {{ ref('int_messaging__chats') }}
),

counted_visits as (
    select * from {{ ref('int_messaging__counted_visits') }}
),

calendar as (
    select * from {{ ref('dim_calendar') }}
),

-- MEC (D32): a contact engaged in a month when they wrote at least one message, on any channel
engaged_contacts as (
    select
        conversations.organization_id,
        calendar.month_start,
        count(distinct conversations.contact_id)::integer as engaged_contacts
    from messages
    inner join conversations on messages.conversation_id = conversations.conversation_id
    inner join calendar on messages.local_date = calendar.calendar_date
    where messages.author_type = 'contact'
    group by conversations.organization_id, calendar.month_start
),

-- an interaction with the app (D33): a message written, a session joined, a result added, an invitation sent
interactions as (
    select
        author_id as user_id,
        local_date
    from messages
    where author_type = 'user'
    union all
    select
        user_id,
        local_date
    from sessions
    where user_id is not null
    union all
    select
        user_id,
        {{ reporting_date('created_at') }}
    from results
    where user_id is not null and {{ as_of_cut('created_at') }}
    union all
    select
        user_id,
        {{ reporting_date('sent_at') }}
    from invitations
    where user_id is not null and {{ as_of_cut('sent_at') }}
),

active_users as (
    select
        users.organization_id,
        calendar.month_start,
        count(distinct users.user_id)::integer as active_users
    from interactions
    inner join users on interactions.user_id = users.user_id
    inner join calendar on interactions.local_date = calendar.calendar_date
    where users.is_own_organisation and not users.is_guest
    group by users.organization_id, calendar.month_start
),

visits as (
    select
        counted_visits.organization_id,
        calendar.month_start,
        count(*)::integer as counted_visits
    from counted_visits
    inner join calendar on counted_visits.local_date = calendar.calendar_date
    group by counted_visits.organization_id, calendar.month_start
),

chats_per_month as (
    select
        chats.organization_id,
        calendar.month_start,
        (count(*) filter (where chats.chat_class = 'lead'))::integer as lead_chats,
        (count(*) filter (where chats.chat_class = 'service'))::integer as service_chats,
        (count(*) filter (where chats.chat_class = 'bot'))::integer as bot_chats
    from chats
    inner join calendar on chats.first_result_date = calendar.calendar_date
    group by chats.organization_id, calendar.month_start
),

days as (
    select
        organization_days.*,
        calendar.month_start,
        -- the day whose settings are the month's: its last day, or the as-of date in the current month
        max(organization_days.calendar_date) over (
            partition by organization_days.organization_id, calendar.month_start
        ) as month_reference_date
    from organization_days
    inner join calendar on organization_days.calendar_date = calendar.calendar_date
),

month_settings as (
    select
        organization_id,
        month_start,
        business_type,
        potential_engaged_contacts,
        potential_users,
        potential_visitors,
        chat_conversion_rate
    from days
    where calendar_date = month_reference_date
),

final as (
    select
        days.organization_id,
        days.organization_name,
        days.calendar_date,
        days.month_start,
        month_settings.business_type,
        coalesce(engaged_contacts.engaged_contacts, 0) as engaged_contacts,
        coalesce(active_users.active_users, 0) as active_users,
        coalesce(visits.counted_visits, 0) as counted_visits,
        coalesce(chats_per_month.lead_chats, 0) as lead_chats,
        coalesce(chats_per_month.service_chats, 0) as service_chats,
        coalesce(chats_per_month.bot_chats, 0) as bot_chats,
        month_settings.potential_engaged_contacts,
        month_settings.potential_users,
        month_settings.potential_visitors,
        month_settings.chat_conversion_rate,
        month_settings.potential_visitors * month_settings.chat_conversion_rate as chat_benchmark
    from days
    inner join month_settings
        on days.organization_id = month_settings.organization_id
            and days.month_start = month_settings.month_start
    left join engaged_contacts
        on days.organization_id = engaged_contacts.organization_id
            and days.month_start = engaged_contacts.month_start
    left join active_users
        on days.organization_id = active_users.organization_id
            and days.month_start = active_users.month_start
    left join visits
        on days.organization_id = visits.organization_id
            and days.month_start = visits.month_start
    left join chats_per_month
        on days.organization_id = chats_per_month.organization_id
            and days.month_start = chats_per_month.month_start
)

select * from final
