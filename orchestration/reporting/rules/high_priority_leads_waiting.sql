-- High-priority leads waiting (D13): the Executive summary's action items of that kind (h11's
-- marts.fct_exec_action_items, thresholds in seed alert_thresholds), so the alert and the page agree. One subject,
-- the team: it notifies when leads start waiting and when none is left, not once per lead.
with

items as (
    select * from marts.fct_exec_action_items
),

waiting as (
    select * from items where kind = 'High-priority lead waiting'
),

final as (
    select
        'team' as subject,
        count(*) as value,
        count(*) || ' high-priority lead(s) waiting over ' || %(high_priority_wait_hours)s || ' h, since '
        || min(since_date) || ': ' || string_agg(subject, '; ' order by since_date, subject) as detail
    from waiting
    having count(*) > 0
)

select * from final
