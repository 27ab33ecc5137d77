-- Targets at risk (the as-of month, h11's action items) and targets missed (the month before, h11's target status);
-- one subject per target (D15 as decided for the alerts).
with

items as (
    select * from marts.fct_exec_action_items
),

targets as (
    select * from marts.fct_kpi_target_status
),

evaluated as (
    select date_trunc('month', (%(as_of)s::timestamptz at time zone %(timezone)s)::date)::date as month_start
),

at_risk as (
    select
        'at risk: ' || subject as subject,
        null::numeric as value,
        detail
    from items
    where kind = 'Target at risk'
),

missed as (
    select
        'missed: ' || t.metric_label || ' / ' || t.agent_name || ' / ' || to_char(t.month_start, 'YYYY-MM') as subject,
        t.target_attainment as value,
        t.metric_label || ' (' || t.agent_name || ', ' || to_char(t.month_start, 'Mon YYYY') || '): missed, '
        || coalesce(t.actual_text, 'no value') || ' against a target of ' || t.target_text as detail
    from targets as t
    cross join evaluated as e
    where t.month_start = (e.month_start - interval '1 month')::date and t.status = 'Missed'
),

final as (
    select * from at_risk
    union all
    select * from missed
)

select * from final
