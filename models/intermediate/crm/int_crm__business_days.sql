-- The business-hours clock of each CRM location: one row per location and local date of the shared calendar
-- (dim_calendar), with the day's opening and closing instants (UTC, DST-correct: the local wall-clock times of
-- seed crm_business_hours converted in the location's own zone) and the open seconds of all earlier dates.
-- Business seconds between two instants are then two look-ups and a subtraction (macro crm_business_seconds),
-- not a scan of opening hours per pair. A holiday (seed crm_holidays, `*` = every location) or a weekday
-- without a row is a closed day: 0 open seconds, null opening instants.
{{ config(materialized='table', indexes=[{'columns': ['location_id', 'local_date'], 'unique': True}]) }}

with

calendar as (
    select * from {{ ref('dim_calendar') }}
),

locations as (
    select * from {{ ref('stg_crm__locations') }}
),

business_hours as (
    select * from {{ ref('crm_business_hours') }}
),

holidays as (
    select * from {{ ref('crm_holidays') }}
),

location_days as (
    select
        locations.location_id,
        locations.timezone,
        calendar.calendar_date as local_date,
        calendar.iso_weekday
    from locations
    cross join calendar
),

holiday_dates as (
    select distinct
        location_id,
        holiday_date
    from holidays
),

opening as (
    select
        location_days.location_id,
        location_days.timezone,
        location_days.local_date,
        location_days.iso_weekday,
        holiday_dates.holiday_date is not null as is_holiday,
        case when holiday_dates.holiday_date is null then
                (location_days.local_date + business_hours.opens_at) at time zone location_days.timezone
        end as opens_at,
        case when holiday_dates.holiday_date is null then
                (location_days.local_date + business_hours.closes_at) at time zone location_days.timezone
        end as closes_at
    from location_days
    left join business_hours
        on location_days.location_id = business_hours.location_id
            and location_days.iso_weekday = business_hours.iso_weekday
    left join holiday_dates
        on location_days.local_date = holiday_dates.holiday_date
            and holiday_dates.location_id in ('*', location_days.location_id)
),

with_seconds as (
    select
        *,
        coalesce(extract(epoch from closes_at - opens_at), 0)::bigint as open_seconds
    from opening
),

final as (
    select
        location_id,
        timezone,
        local_date,
        iso_weekday,
        is_holiday,
        opens_at,
        closes_at,
        open_seconds,
        coalesce(
            sum(open_seconds) over (
                partition by location_id order by local_date rows between unbounded preceding and 1 preceding
            ),
            0
        )::bigint as open_seconds_before
    from with_seconds
)

select * from final
