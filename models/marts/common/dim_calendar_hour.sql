-- One row per local wall-clock hour (reporting time zone): MetricFlow's hour-grain time spine, so
-- hour-of-day profiles list all 24 hours. A wall-clock hour is one row even on daylight-saving days
-- (the repeated 01:00 of the autumn change is one bucket; the skipped 02:00 of spring has no events).
with

hours as (
    select
        generate_series(
            {{ calendar_start() }}::timestamp,
            {{ calendar_end() }}::timestamp + interval '23 hours',
            interval '1 hour'
        ) as hour_start
),

final as (
    select
        hour_start,
        hour_start::date as calendar_date,
        extract(hour from hour_start)::integer as hour_of_day
    from hours
)

select * from final
