-- Charges per local date, local wall-clock hour 0-23, channel and category: one row per hour with charges,
-- plus one row with zeros per date, channel and category from the first omnichannel data to the as-of date
-- (at hour 0), so every date of a selected range is read whatever channels and categories are chosen and
-- the busy-period heatmap divides by the number of days in the range (D29). Zero rows for every hour would
-- be 24 times as many rows (134,592 for two years of demo data) and the heatmap too slow (D97).
with

dates as (
    select * from {{ ref('int_omnichannel__dates') }}
),

charges as (
    select * from {{ ref('int_omnichannel__charges') }}
),

segments as (
    select * from {{ ref('int_omnichannel__segments') }}
),

charged as (
    select
        charge_date,
        charge_hour,
        channel,
        category,
        count(*)::integer as charges,
        sum(charged_messages)::bigint as charged_messages
    from charges
    group by charge_date, charge_hour, channel, category
),

zero_days as (
    select
        dates.calendar_date as charge_date,
        0 as charge_hour,
        segments.channel,
        segments.category,
        0 as charges,
        0::bigint as charged_messages
    from dates
    cross join segments
),

unioned as (
    select * from charged
    union all
    select * from zero_days
),

final as (
    select
        unioned.charge_date,
        unioned.charge_hour,
        dates.iso_weekday,
        dates.weekday_name,
        unioned.channel,
        unioned.category,
        sum(unioned.charges)::integer as charges,
        sum(unioned.charged_messages)::bigint as charged_messages
    from unioned
    inner join dates on unioned.charge_date = dates.calendar_date
    group by
        unioned.charge_date, unioned.charge_hour, dates.iso_weekday, dates.weekday_name, unioned.channel,
        unioned.category
)

select * from final
