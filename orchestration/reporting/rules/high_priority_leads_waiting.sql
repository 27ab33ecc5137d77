-- High-priority leads waiting (D13, D189): the Executive summary's action items of that kind (h11's
-- marts.fct_exec_action_items, thresholds in seed alert_thresholds), so the alert and the page agree: the mart alone
-- decides which leads wait (no person's touch; an automated one does not count) and which are too old to list. One
-- subject, the team: it notifies when leads start waiting and when none is left, not once per lead. The backlog
-- (leads waiting over the cap) never fires on its own; its count is named in the message.
with

items as (
    select * from marts.fct_exec_action_items
),

waiting as (
    select * from items where kind = 'High-priority lead waiting'
),

backlog as (
    select coalesce(sum(lead_count), 0) as leads from items where kind = 'High-priority backlog'
),

final as (
    select
        'team' as subject,
        count(*) as value,
        count(*) || ' high-priority lead(s) waiting over ' || %(high_priority_wait_hours)s || ' h, since '
        || min(waiting.since_date) || ': ' || string_agg(waiting.subject, '; ' order by waiting.since_date, waiting.subject)
        || case
            when max(backlog.leads) > 0
                then '; and ' || max(backlog.leads) || ' waiting over ' || %(high_priority_wait_max_days)s
                || ' days, counted on the Executive summary'
            else ''
        end as detail
    from waiting
    cross join backlog
    having count(*) > 0
)

select * from final
