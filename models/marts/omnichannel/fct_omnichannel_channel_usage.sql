-- One row per local date, channel, category and user with blasts sent or charges (each dated by its own
-- time: the send and the charge), plus one row per date, channel and category without a user and with
-- zeros, so every day, channel and category is listed (0 when nothing happened).
with

blasts as (
    select * from {{ ref('int_omnichannel__blasts') }}
),

charges as (
    select * from {{ ref('int_omnichannel__charges') }}
),

dates as (
    select * from {{ ref('int_omnichannel__dates') }}
),

user_keys as (
    select * from {{ ref('int_omnichannel__user_keys') }}
),

segments as (
    select * from {{ ref('int_omnichannel__segments') }}
),

sent as (
    select
        sent_date as usage_date,
        channel,
        category,
        user_id,
        count(*)::integer as blasts_sent,
        sum(recipients)::bigint as messages_sent,
        coalesce(sum(recipients) filter (where delivered is not null), 0)::bigint as messages_with_delivery_status,
        coalesce(sum(delivered), 0)::bigint as messages_delivered,
        0 as charges,
        0::bigint as charged_messages,
        0::numeric as charge_amount
    from blasts
    where sent_date is not null
    group by sent_date, channel, category, user_id
),

charged as (
    select
        charge_date as usage_date,
        channel,
        category,
        user_id,
        0 as blasts_sent,
        0::bigint as messages_sent,
        0::bigint as messages_with_delivery_status,
        0::bigint as messages_delivered,
        count(*)::integer as charges,
        sum(charged_messages)::bigint as charged_messages,
        sum(amount) as charge_amount
    from charges
    group by charge_date, channel, category, user_id
),

empty_days as (
    select
        dates.calendar_date as usage_date,
        segments.channel,
        segments.category,
        null::text as user_id,
        0 as blasts_sent,
        0::bigint as messages_sent,
        0::bigint as messages_with_delivery_status,
        0::bigint as messages_delivered,
        0 as charges,
        0::bigint as charged_messages,
        0::numeric as charge_amount
    from dates
    cross join segments
),

unioned as (
    select * from sent
    union all
    select * from charged
    union all
    select * from empty_days
),

rolled_up as (
    select
        usage_date,
        channel,
        category,
        user_id,
        sum(blasts_sent)::integer as blasts_sent,
        sum(messages_sent)::bigint as messages_sent,
        sum(messages_with_delivery_status)::bigint as messages_with_delivery_status,
        sum(messages_delivered)::bigint as messages_delivered,
        sum(charges)::integer as charges,
        sum(charged_messages)::bigint as charged_messages,
        sum(charge_amount) as charge_amount
    from unioned
    group by usage_date, channel, category, user_id
),

final as (
    select
        rolled_up.usage_date,
        rolled_up.channel,
        rolled_up.category,
        rolled_up.user_id,
        user_keys.user_key,
        rolled_up.blasts_sent,
        rolled_up.messages_sent,
        rolled_up.messages_with_delivery_status,
        rolled_up.messages_delivered,
        rolled_up.charges,
        rolled_up.charged_messages,
        rolled_up.charge_amount
    from rolled_up
    left join user_keys on rolled_up.user_id = user_keys.user_id
)

select * from final
