-- Bots (seed 003): one row per bot and local date with that day's bot indicators from the bot events up to the
-- as-of moment (messages, bot started, leads: counts of events; Chatpoints and Points V1: sums of their points;
-- D45), plus one "listed" row per active bot, dated the as-of date and without measures, so the performance
-- table lists every active bot with zeros (cards set `listed_by`). Name is the bot's original name; the
-- description is the client's, the name when none was set (s003.rule_bot_name_description).
with

bots as (
    select * from {{ ref('stg_web1on1__bots') }}
),

bot_events as (
    select * from {{ ref('stg_web1on1__bot_events') }}
),

organizations as (
    select * from {{ ref('stg_web1on1__organizations') }}
),

as_of as (
    select * from {{ ref('int_common__as_of_date') }}
),

per_day as (
    select
        bot_id,
        {{ reporting_date('occurred_at') }} as calendar_date,
        (count(*) filter (where event_type = 'message'))::integer as messages,
        (count(*) filter (where event_type = 'bot_started'))::integer as bot_started,
        (count(*) filter (where event_type = 'lead'))::integer as leads,
        coalesce(sum(points) filter (where event_type = 'chatpoint'), 0) as chatpoints,
        coalesce(sum(points) filter (where event_type = 'point_v1'), 0) as points_v1
    from bot_events
    where {{ as_of_cut('occurred_at') }}
    group by bot_id, {{ reporting_date('occurred_at') }}
),

activity_rows as (
    select
        bot_id,
        calendar_date,
        false as is_listed,
        messages,
        bot_started,
        leads,
        chatpoints,
        points_v1
    from per_day
),

listed_rows as (
    select
        bots.bot_id,
        as_of.as_of_date as calendar_date,
        true as is_listed,
        null::integer as messages,
        null::integer as bot_started,
        null::integer as leads,
        null::numeric as chatpoints,
        null::numeric as points_v1
    from bots
    cross join as_of
    where bots.active
),

unioned as (
    select * from activity_rows
    union all
    select * from listed_rows
),

final as (
    select
        bots.organization_id,
        organizations.name as organization_name,
        unioned.bot_id,
        bots.name as bot_name,
        coalesce(nullif(trim(bots.description), ''), bots.name) as bot_description,
        bots.active as is_active,
        unioned.calendar_date,
        unioned.is_listed,
        unioned.messages,
        unioned.bot_started,
        unioned.leads,
        unioned.chatpoints,
        unioned.points_v1
    from unioned
    inner join bots on unioned.bot_id = bots.bot_id
    inner join organizations on bots.organization_id = organizations.organization_id
)

select * from final
