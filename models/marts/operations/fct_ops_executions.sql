{{ config(indexes=[{'columns': ['started_date']}]) }}
-- One row per workflow execution (the engine's run for one lead): a processing failure is an execution whose
-- latest attempt of its last step reached failed (the lead is stuck or parked), as of the as-of moment (D144).
with

events as (
    select * from {{ ref('stg_crm__workflow_events') }}
    where {{ as_of_cut('occurred_at') }}
),

latest as (
    select
        execution_id,
        status,
        row_number() over (partition by execution_id order by occurred_at desc, attempt desc) as recency
    from events
),

spans as (
    select
        execution_id,
        min(occurred_at) as started_at,
        max(occurred_at) as last_event_at
    from events
    group by execution_id
),

final as (
    select
        spn.execution_id,
        spn.started_at,
        spn.last_event_at,
        {{ reporting_date('spn.started_at') }} as started_date,
        lat.status = 'failure' as is_failed
    from spans as spn
    inner join latest as lat on spn.execution_id = lat.execution_id and lat.recency = 1
)

select * from final
