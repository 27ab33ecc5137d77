-- One row per local date and local wall-clock hour 0-23 from the first omnichannel data to the as-of
-- date: distinct users of the OCA blast feature (composing or sending a blast) in that hour, 0 when none.
-- Dense, so the busy-period heatmap can divide by the number of days in the selected range (D29).
-- On the autumn daylight-saving day hour 1 covers both real 01:00 hours; on the spring day hour 2 is 0.
with

dates as (
    select * from {{ ref('int_omnichannel__dates') }}
),

hours as (
    select * from {{ ref('dim_calendar_hour') }}
),

activity as (
    select * from {{ ref('int_omnichannel__activity') }}
),

blast_users as (
    select
        activity_date,
        activity_hour,
        count(distinct user_id)::integer as blast_active_users
    from activity
    where is_blast_feature
    group by activity_date, activity_hour
),

final as (
    select
        dates.calendar_date as activity_date,
        hours.hour_of_day as activity_hour,
        dates.iso_weekday,
        dates.weekday_name,
        coalesce(blast_users.blast_active_users, 0) as blast_active_users
    from dates
    inner join hours on dates.calendar_date = hours.calendar_date
    left join blast_users
        on dates.calendar_date = blast_users.activity_date
            and hours.hour_of_day = blast_users.activity_hour
)

select * from final
