-- The active-user mart behind "Active users" for a date range (distinct users over its rows): one row per user and
-- local date with platform activity (channel null: any event, login included, D27), plus one row per user, local
-- date and channel on which the user composed or sent a blast, so that the Channel filter narrows the count to the
-- users active on that channel (D31).
with

user_days as (
    select * from {{ ref('int_omnichannel__user_days') }}
),

blasts as (
    select * from {{ ref('int_omnichannel__blasts') }}
),

user_keys as (
    select * from {{ ref('int_omnichannel__user_keys') }}
),

-- a blast is activity on its channel on the day it was composed and on the day it was sent
blast_days as (
    select
        user_id,
        channel,
        {{ reporting_date('created_at') }} as activity_date
    from blasts
    union
    select
        user_id,
        channel,
        sent_date as activity_date
    from blasts
    where sent_date is not null
),

final as (
    select
        user_id,
        user_key,
        activity_date,
        null::text as channel,
        events,
        blast_feature_events
    from user_days
    union all
    select
        blast_days.user_id,
        user_keys.user_key,
        blast_days.activity_date,
        blast_days.channel,
        null::integer as events,
        null::integer as blast_feature_events
    from blast_days
    inner join user_keys on blast_days.user_id = user_keys.user_id
)

select * from final
