-- Conversion rate drop (D14): the Executive summary's action items of that kind (h11's marts.fct_exec_action_items:
-- lead-to-appointment rate of the last completed ISO week, 7-day maturity, against the 4 weeks before; thresholds
-- conversion_drop_relative and conversion_drop_min_leads of seed alert_thresholds). One subject per week.
with

items as (
    select * from marts.fct_exec_action_items
),

final as (
    select
        subject,
        null::numeric as value,
        detail
    from items
    where kind = 'Conversion drop'
)

select * from final
