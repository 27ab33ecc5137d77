-- One row per lead and workflow step it reached: the lead-level stage success of the pipeline flow (D24). A
-- lead's latest attempt of the step decides; the 60 s response stage succeeds when the first successful
-- first_response is at most 60 s after the lead's web_form event (else its created_at). Calls without a lead are
-- not in it.
with

events as (
    select * from {{ ref('stg_crm__workflow_events') }}
    where lead_id is not null and occurred_at <= {{ as_of_timestamp() }}
),

leads as (
    select * from {{ ref('stg_crm__leads') }}
),

ranked as (
    select
        lead_id,
        step,
        status,
        occurred_at,
        row_number() over (partition by lead_id, step order by occurred_at desc, attempt desc) as recency,
        min(occurred_at) over (partition by lead_id, step) as first_event_at
    from events
),

arrivals as (
    select
        e.lead_id,
        min(e.occurred_at) as web_form_at
    from events as e
    where e.step = 'web_form'
    group by e.lead_id
),

first_responses as (
    select
        lead_id,
        min(occurred_at) as responded_at
    from events
    where step = 'first_response' and status = 'success'
    group by lead_id
),

final as (
    select
        r.lead_id || '|' || r.step as lead_step_id,
        r.lead_id,
        r.step,
        array_position(array['web_form', 'first_response', 'enrichment', 'scoring', 'routing', 'nurture'], r.step)
            as step_order,
        r.first_event_at,
        {{ reporting_date('r.first_event_at') }} as step_date,
        r.status = 'success' as latest_attempt_succeeded,
        case
            when r.step = 'first_response'
                then coalesce(
                        fr.responded_at <= coalesce(a.web_form_at, l.created_at) + interval '60 seconds', false
                    )
            else r.status = 'success'
        end as stage_succeeded
    from ranked as r
    left join arrivals as a on r.lead_id = a.lead_id
    left join first_responses as fr on r.lead_id = fr.lead_id
    left join leads as l on r.lead_id = l.lead_id
    where r.recency = 1
)

select * from final
