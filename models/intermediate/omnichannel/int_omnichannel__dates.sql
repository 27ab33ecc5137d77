-- The local dates the omnichannel dashboards cover: from the first date with any omnichannel data
-- (invitation, registration or activity) to the as-of date. Dense marts have a row for each of them, so
-- a day without activity counts 0 and the number of days in a date range is the number of rows.
with

calendar as (
    select * from {{ ref('dim_calendar') }}
),

as_of as (
    select * from {{ ref('int_common__as_of_date') }}
),

invitations as (
    select * from {{ ref('stg_omnichannel__invitations') }}
),

users as (
    select * from {{ ref('stg_omnichannel__users') }}
),

activity as (
    select * from {{ ref('stg_omnichannel__user_activity') }}
),

firsts as (
    select min(invited_at) as first_at from invitations
    union all
    select min(registered_at) as first_at from users
    union all
    select min(occurred_at) as first_at from activity
),

first_data as (
    select min(first_at) as first_at
    from firsts
),

final as (
    select
        calendar.calendar_date,
        calendar.iso_weekday,
        calendar.weekday_name,
        calendar.iso_week_start,
        calendar.month_start
    from calendar
    cross join first_data
    cross join as_of
    where calendar.calendar_date between {{ reporting_date('first_data.first_at') }} and as_of.as_of_date
)

select * from final
