-- Targets of the evaluation's month at risk (the target mart's projection to month end misses) and targets of
-- the month before that were missed; one subject per target (metric, and the agent for agent goals).
with

targets as (
    select * from marts.fct_kpi_target_status
),

evaluated as (
    select date_trunc('month', (%(as_of)s::timestamptz at time zone %(timezone)s)::date)::date as month_start
),

final as (
    select
        t.metric || ' / ' || t.agent_name as subject,
        t.target_attainment as value,
        t.metric_label || ' (' || t.agent_name || ', ' || to_char(t.month_start, 'Mon YYYY') || '): '
        || t.status || ', ' || coalesce(t.actual_text, 'no value') || ' against a target of ' || t.target_text
        as detail
    from targets as t
    cross join evaluated as e
    where
        (t.month_start = e.month_start and t.status = 'At risk')
        or (t.month_start = (e.month_start - interval '1 month')::date and t.status = 'Missed')
)

select * from final
