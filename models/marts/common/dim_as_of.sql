-- The one as-of definition: the moment every relative window ("today", "this week", "this month") is
-- computed from, as one row. Every dashboard reads its as-of time here. dim_calendar derives the windows from
-- int_common__as_of_date, the date alone, so that a refresh cycle within the day does not rebuild them (D198).
with

as_of as (
    select {{ as_of_timestamp() }} as as_of_at
),

final as (
    select
        as_of_at,
        {{ reporting_date('as_of_at') }} as as_of_date,
        {{ hours_begun_today('as_of_at', reporting_date('as_of_at')) }} as hours_begun_today,
        now() as built_at
    from as_of
)

select * from final
