-- One row per user and local date on which the user was active within the 30 days ending on that date
-- (the date and the previous 29 days), with whether they were active on the date itself and within the 7
-- days ending on it (the date and the previous 6 days). DAU, WAU and MAU are counts of these rows per date
-- (D27). Each active day covers the dates from itself until the day before the user's next active day, at
-- most 30 dates, so a user appears once per date and the counts need no distinct.
with

user_days as (
    select * from {{ ref('int_omnichannel__user_days') }}
),

dates as (
    select * from {{ ref('int_omnichannel__dates') }}
),

windows as (
    select
        7 as wau_days,
        30 as mau_days
),

with_next as (
    select
        user_id,
        activity_date,
        lead(activity_date) over (partition by user_id order by activity_date) as next_activity_date
    from user_days
),

covered as (
    select
        with_next.user_id,
        covered_day::date as calendar_date,
        with_next.activity_date as last_activity_date,
        covered_day::date - with_next.activity_date as days_since_activity
    from with_next
    cross join windows
    cross join
        lateral generate_series(
            with_next.activity_date::timestamp,
            least(with_next.next_activity_date - 1, with_next.activity_date + windows.mau_days - 1)::timestamp,
            interval '1 day'
        ) as covered_day
    -- dates after the as-of date are not reported
    inner join dates on dates.calendar_date = covered_day::date
),

final as (
    select
        covered.user_id,
        covered.calendar_date,
        covered.last_activity_date,
        covered.days_since_activity = 0 as is_active_on_date,
        covered.days_since_activity < windows.wau_days as is_active_in_7_days,
        true as is_active_in_30_days
    from covered
    cross join windows
)

select * from final
