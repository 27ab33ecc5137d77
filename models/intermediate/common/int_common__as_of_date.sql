-- The as-of date alone, for the models that need only the date (the calendar's windows, month and day spines):
-- they read the clock once a day, so a refresh cycle within the same day keeps them (D198). dim_as_of holds the
-- moment itself, for the few models whose rows change with every move of the clock.
with

as_of as (
    select {{ as_of_date() }} as as_of_date
),

final as (
    select as_of_date
    from as_of
)

select * from final
