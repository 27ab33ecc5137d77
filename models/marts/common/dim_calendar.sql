-- The shared calendar: one row per local date (reporting time zone) with its ISO week, month and weekday,
-- and the relative windows of the as-of date. MetricFlow's day-grain time spine; every mart joins it
-- instead of deriving weeks, months or windows itself.
with

as_of as (
    select * from {{ ref('int_common__as_of_date') }}
),

days as (
    select series_day::date as calendar_date
    from generate_series({{ calendar_start() }}, {{ calendar_end() }}, interval '1 day') as series_day
),

windows as (
    select
        as_of_date,
        date_trunc('month', as_of_date)::date as month_start,
        (date_trunc('month', as_of_date) - interval '1 month')::date as previous_month_start,
        -- the previous month up to the same day of month, clipped to its last day (31 Mar -> 28 Feb)
        least(
            (date_trunc('month', as_of_date) - interval '1 month')::date + (extract(day from as_of_date)::integer - 1),
            (date_trunc('month', as_of_date) - interval '1 day')::date
        ) as previous_month_same_day
    from as_of
),

final as (
    select
        days.calendar_date,
        date_trunc('week', days.calendar_date)::date as iso_week_start,
        extract(isoyear from days.calendar_date)::integer as iso_year,
        extract(week from days.calendar_date)::integer as iso_week,
        date_trunc('month', days.calendar_date)::date as month_start,
        extract(isodow from days.calendar_date)::integer as iso_weekday,
        trim(to_char(days.calendar_date, 'Day')) as weekday_name,
        extract(isodow from days.calendar_date) in (6, 7) as is_weekend,
        days.calendar_date - windows.as_of_date as days_from_as_of,
        days.calendar_date = windows.as_of_date as is_as_of_date,
        days.calendar_date between windows.as_of_date - 6 and windows.as_of_date as is_in_rolling_7d,
        days.calendar_date between windows.as_of_date - 13 and windows.as_of_date - 7 as is_in_previous_rolling_7d,
        days.calendar_date between windows.month_start and windows.as_of_date as is_month_to_date,
        days.calendar_date between windows.previous_month_start and windows.previous_month_same_day
            as is_previous_month_to_date,
        days.calendar_date <= windows.as_of_date as is_on_or_before_as_of
    from days
    cross join windows
)

select * from final
