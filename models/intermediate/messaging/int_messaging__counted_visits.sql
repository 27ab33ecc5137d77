{{ config(materialized='table') }}
-- The website visits that count (s003.rule_visitor_cookie_30min, D34): a counted visit starts 30 minutes in which
-- the same cookie is not counted again; the first visit after them is counted and starts a new 30 minutes. So
-- visits at 0, 35 and 62 minutes count twice (0 and 35: 62 falls in the window 35 started), not three times as
-- fixed 30-minute windows from the first visit would. A window restart rule needs each cookie's visits in order,
-- hence the recursive walk (one step per visit of a cookie). A visit exactly 30 minutes after the window start is
-- counted (the cookie has expired).
with

visits as (
    select * from {{ ref('stg_web1on1__visitor_events') }}
),

numbered as (
    select
        visitor_event_id,
        organization_id,
        cookie_id,
        occurred_at,
        row_number() over (partition by organization_id, cookie_id order by occurred_at, visitor_event_id)
            as visit_number
    from visits
    where {{ as_of_cut('occurred_at') }}
),

walk as (
    -- Postgres needs WITH RECURSIVE on the clause that recurses; nested here so the model's own WITH stays plain
    with recursive steps as (
        select
            organization_id,
            cookie_id,
            visit_number,
            visitor_event_id,
            occurred_at,
            occurred_at as window_started_at,
            true as is_counted
        from numbered
        where visit_number = 1

        union all

        select
            next_visit.organization_id,
            next_visit.cookie_id,
            next_visit.visit_number,
            next_visit.visitor_event_id,
            next_visit.occurred_at,
            case
                when next_visit.occurred_at >= walk.window_started_at + interval '30 minutes'
                    then next_visit.occurred_at
                else walk.window_started_at
            end as window_started_at,
            next_visit.occurred_at >= walk.window_started_at + interval '30 minutes' as is_counted
        from steps as walk
        inner join numbered as next_visit
            on walk.organization_id = next_visit.organization_id
                and walk.cookie_id = next_visit.cookie_id
                and next_visit.visit_number = walk.visit_number + 1
    )

    select * from steps
),

final as (
    select
        visitor_event_id,
        organization_id,
        cookie_id,
        occurred_at,
        {{ reporting_date('occurred_at') }} as local_date
    from walk
    where is_counted
)

select * from final
