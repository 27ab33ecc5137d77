-- Targets and their status per local calendar month (D15 as decided in D135): the team's ROI figures and each agent's
-- goals against seed kpi_targets. A target row applies from its month until a later row of the same metric and
-- scope (an agent's own row wins over the `*` row for every agent). Status, first rule that holds:
--   no target -> 'No target'; no value (e.g. ROI without costs) -> 'No value';
--   target met (>= target; <= for lower-is-better) -> 'Above target' ('Below target' when lower is better);
--   a closed month -> 'Missed';
--   an accruing metric projected to month end on the weekday-weighted share of the month elapsed meets it
--   -> 'On track';
--   otherwise -> 'At risk'.
-- Levels (ROI, system costs) are not projected: they are compared as they stand. Weekend days weigh
-- seed roi_assumptions.weekend_day_weight of a weekday, so a Monday after a weekend does not look behind.
-- Grain: month_start, metric, agent_id ('' for team rows).
with

roi_months as (
    select * from {{ ref('fct_roi_months') }}
),

targets as (
    select * from {{ ref('kpi_targets') }}
),

target_metrics as (
    select * from {{ ref('kpi_target_metrics') }}
),

assumptions as (
    select * from {{ ref('roi_assumptions') }}
),

rate_months as (
    select * from {{ ref('int_roi__agent_rate_months') }}
),

agents as (
    select * from {{ ref('stg_crm__agents') }}
),

deals as (
    select * from {{ ref('stg_crm__deals') }}
),

calendar as (
    select * from {{ ref('dim_calendar') }}
),

as_of as (
    select * from {{ ref('dim_as_of') }}
),

weekend_weight as (
    select max(value) as weight from assumptions
    where assumption = 'weekend_day_weight'
),

-- the weekday-weighted share of each month elapsed by the as-of moment: 1 for closed months; the as-of date
-- counts by the share of its hours gone
day_weights as (
    select
        calendar.month_start,
        calendar.calendar_date,
        case when calendar.is_weekend then weekend_weight.weight else 1 end as weight,
        case
            when calendar.calendar_date < as_of.as_of_date then 1.0
            when calendar.calendar_date = as_of.as_of_date
                then least(extract(
                        epoch from as_of.as_of_at
                        - {{ to_reporting_tz_inverse('as_of.as_of_date::timestamp') }}
                    ) / 86400.0, 1.0)
            else 0.0
        end as elapsed
    from calendar
    cross join weekend_weight
    cross join as_of
    where calendar.month_start in (select roi_months.month_start from roi_months)
),

month_elapsed as (
    select
        month_start,
        sum(weight * elapsed) / sum(weight) as weighted_share_elapsed,
        sum(elapsed) / count(*) as calendar_share_elapsed
    from day_weights
    group by month_start
),

team_actuals as (
    select
        month_start,
        'total_roi' as metric,
        roi as actual,
        cost_status as why_empty
    from roi_months
    union all
    select
        month_start,
        'monthly_savings' as metric,
        monthly_savings_usd as actual,
        null as why_empty
    from roi_months
    union all
    select
        month_start,
        'revenue_attribution' as metric,
        revenue_attribution_usd as actual,
        null as why_empty
    from roi_months
    union all
    select
        month_start,
        'time_savings_hours' as metric,
        hours_saved_per_agent as actual,
        null as why_empty
    from roi_months
    union all
    select
        month_start,
        'system_costs' as metric,
        system_costs_usd as actual,
        cost_status as why_empty
    from roi_months
),

agent_months as (
    select
        rate_months.agent_id,
        rate_months.month_start
    from rate_months
    where rate_months.month_start in (select roi_months.month_start from roi_months)
),

won_deals as (
    select
        deals.agent_id,
        calendar.month_start,
        sum(deals.value) as won_revenue,
        count(*) as won_deals
    from deals
    inner join calendar on calendar.calendar_date = {{ reporting_date('deals.closed_at') }}
    where deals.status = 'won'
    group by deals.agent_id, calendar.month_start
),

agent_actuals as (
    select
        agent_months.month_start,
        'agent_won_revenue' as metric,
        agent_months.agent_id,
        coalesce(won_deals.won_revenue, 0) as actual,
        null as why_empty
    from agent_months
    left join
        won_deals
        on agent_months.agent_id = won_deals.agent_id and agent_months.month_start = won_deals.month_start
    union all
    select
        agent_months.month_start,
        'agent_won_deals' as metric,
        agent_months.agent_id,
        coalesce(won_deals.won_deals, 0) as actual,
        null as why_empty
    from agent_months
    left join
        won_deals
        on agent_months.agent_id = won_deals.agent_id and agent_months.month_start = won_deals.month_start
),

actuals as (
    select
        month_start,
        metric,
        '' as agent_id,
        actual,
        why_empty
    from team_actuals
    union all
    select
        month_start,
        metric,
        agent_id,
        actual,
        why_empty
    from agent_actuals
),

-- the target in effect: the latest row from on or before the month, the agent's own row before the `*` row
targets_in_effect as (
    select distinct on (actuals.month_start, actuals.metric, actuals.agent_id)
        actuals.month_start,
        actuals.metric,
        actuals.agent_id,
        targets.target_value,
        targets.incentive_usd,
        targets.month as target_set_for
    from actuals
    inner join targets
        on actuals.metric = targets.metric
            and actuals.month_start >= targets.month
            and coalesce(targets.agent_id, '') in (actuals.agent_id, '*')
    order by
        actuals.month_start asc, actuals.metric asc, actuals.agent_id asc,
        (coalesce(targets.agent_id, '') = actuals.agent_id) desc, targets.month desc
),

judged as (
    select
        actuals.month_start,
        actuals.metric,
        target_metrics.label as metric_label,
        target_metrics.scope,
        target_metrics.better,
        target_metrics.accrues,
        target_metrics.unit,
        actuals.agent_id,
        actuals.actual,
        actuals.why_empty,
        lag(actuals.actual) over metric_history as previous_actual,
        targets_in_effect.target_value,
        targets_in_effect.target_set_for,
        targets_in_effect.incentive_usd,
        month_elapsed.weighted_share_elapsed,
        month_elapsed.calendar_share_elapsed,
        case when target_metrics.accrues
                then actuals.actual / nullif(month_elapsed.weighted_share_elapsed, 0)
            else actuals.actual
        end
            as projected,
        case when target_metrics.accrues
                then actuals.actual / nullif(month_elapsed.calendar_share_elapsed, 0)
            else actuals.actual
        end
            as projected_by_calendar_days,
        case
            when target_metrics.better = 'higher' then actuals.actual >= targets_in_effect.target_value
            else actuals.actual <= targets_in_effect.target_value
        end as is_met
    from actuals
    inner join target_metrics on actuals.metric = target_metrics.metric
    inner join month_elapsed on actuals.month_start = month_elapsed.month_start
    left join targets_in_effect
        on actuals.month_start = targets_in_effect.month_start
            and actuals.metric = targets_in_effect.metric
            and actuals.agent_id = targets_in_effect.agent_id
    window metric_history as (partition by actuals.metric, actuals.agent_id order by actuals.month_start)
),

statused as (
    select
        *,
        case
            when target_value is null then 'No target'
            when actual is null then 'No value: ' || coalesce(why_empty, 'not computed')
            when is_met and better = 'higher' then 'Above target'
            when is_met then 'Below target'
            when weighted_share_elapsed >= 1 then 'Missed'
            when accrues and better = 'higher' and projected >= target_value then 'On track'
            when accrues and better = 'lower' and projected <= target_value then 'On track'
            else 'At risk'
        end as status
    from judged
),

final as (
    select
        concat_ws('|', statused.month_start, statused.metric, statused.agent_id) as target_status_key,
        statused.month_start,
        statused.metric,
        statused.metric_label,
        statused.scope,
        statused.better,
        statused.accrues,
        statused.unit,
        nullif(statused.agent_id, '') as agent_id,
        coalesce(agents.name, 'Team') as agent_name,
        statused.actual,
        statused.previous_actual,
        statused.target_value,
        statused.target_set_for,
        statused.weighted_share_elapsed,
        statused.calendar_share_elapsed,
        statused.projected,
        statused.projected_by_calendar_days,
        statused.status,
        (statused.status = 'At risk')::integer as is_at_risk,
        (statused.status in ('Above target', 'Below target'))::integer as is_met,
        case
            when statused.better = 'higher' then statused.actual / nullif(statused.target_value, 0)
            else statused.target_value / nullif(statused.actual, 0)
        end as target_attainment,
        statused.incentive_usd,
        case when statused.weighted_share_elapsed >= 1 and statused.is_met then statused.incentive_usd end
            as incentive_earned_usd,
        {{ format_kpi_value('statused.actual', 'statused.unit') }} as actual_text,
        {{ format_kpi_value('statused.previous_actual', 'statused.unit') }} as previous_text,
        {{ format_kpi_value('statused.target_value', 'statused.unit') }} as target_text
    from statused
    left join agents on agents.agent_id = nullif(statused.agent_id, '')
)

select * from final
