{{ config(indexes=[{'columns': ['step_date']}]) }}
-- One row per lead and workflow step it reached: the lead-level stage success of the pipeline flow (D24). A
-- lead's latest attempt of the step decides; the 60 s response stage succeeds when the first successful
-- first_response is at most 60 s after the lead's web_form event (else its created_at). Calls without a lead are
-- not in it.
with

events as (
    select * from {{ ref('stg_crm__workflow_events') }}
    where lead_id is not null and {{ as_of_cut('occurred_at') }}
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
        evt.lead_id,
        min(evt.occurred_at) as web_form_at
    from events as evt
    where evt.step = 'web_form'
    group by evt.lead_id
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
        rnk.lead_id || '|' || rnk.step as lead_step_id,
        rnk.lead_id,
        rnk.step,
        array_position(array['web_form', 'first_response', 'enrichment', 'scoring', 'routing', 'nurture'], rnk.step)
            as step_order,
        rnk.first_event_at,
        {{ reporting_date('rnk.first_event_at') }} as step_date,
        rnk.status = 'success' as latest_attempt_succeeded,
        case
            when rnk.step = 'first_response'
                then coalesce(
                        fres.responded_at <= coalesce(arr.web_form_at, lds.created_at) + interval '60 seconds', false
                    )
            else rnk.status = 'success'
        end as stage_succeeded
    from ranked as rnk
    left join arrivals as arr on rnk.lead_id = arr.lead_id
    left join first_responses as fres on rnk.lead_id = fres.lead_id
    left join leads as lds on rnk.lead_id = lds.lead_id
    where rnk.recency = 1
)

select * from final
