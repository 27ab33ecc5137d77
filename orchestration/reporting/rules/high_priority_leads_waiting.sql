-- High-priority CRM leads of the last 7 days, neither won nor lost, that no agent has touched (as of the marts'
-- build) the threshold's hours after they arrived (D13: an automated touch does not stop the clock; the alert asks
-- for a person's call-back). One subject: the team.
with

leads as (
    select * from marts.fct_crm_leads
),

waiting as (
    select
        lead_id,
        extract(epoch from (%(as_of)s::timestamptz - created_at)) / 3600 as hours_waiting
    from leads
    where
        priority = 'high'
        and created_at > %(as_of)s::timestamptz - interval '7 days'
        and created_at <= %(as_of)s::timestamptz - make_interval(secs => %(threshold)s::float8 * 3600)
        and agent_response_seconds is null
        and not coalesce(is_won, false)
        and lost_at is null
),

final as (
    select
        'team' as subject,
        count(*) as value,
        count(*) || ' high-priority lead(s) waiting over ' || %(threshold)s || ' h for a person; the oldest for '
        || round(max(hours_waiting)::numeric, 1) || ' h' as detail
    from waiting
    having count(*) > 0
)

select * from final
