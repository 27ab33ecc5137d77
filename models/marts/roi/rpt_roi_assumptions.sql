-- Every input of the ROI per local calendar month, with where it comes from, so an executive can see why ROI is
-- what it is (issue 17, "every input visible"): the hourly rate in effect per agent and on average, the number of
-- agents, the manual minutes per automated unit, the error rate and cost, the attribution weights, the weekend
-- weight of the target projection and the team targets in effect. Grain: month_start, assumption_key.
with

roi_months as (
    select * from {{ ref('fct_roi_months') }}
),

rate_months as (
    select * from {{ ref('int_roi__agent_rate_months') }}
),

agents as (
    select * from {{ ref('stg_crm__agents') }}
),

minutes as (
    select * from {{ ref('roi_time_savings_assumptions') }}
),

assumptions as (
    select * from {{ ref('roi_assumptions') }}
),

weights as (
    select * from {{ ref('attribution_weights') }}
),

target_status as (
    select * from {{ ref('fct_kpi_target_status') }}
),

listed as (
    select
        rate_months.month_start,
        'rate:' || rate_months.agent_id as assumption_key,
        'Hourly rate in effect' as section,
        agents.name || ' (day-weighted over ' || rate_months.employed_days || ' employed days)' as assumption,
        rate_months.rate_days / nullif(rate_months.rated_days, 0) as value,
        'USD per hour' as unit,
        'raw_crm.agent_rates (valid_from .. next valid_from)' as source
    from rate_months
    inner join agents on agents.agent_id = rate_months.agent_id
    where rate_months.month_start in (select roi_months.month_start from roi_months)
    union all
    select
        month_start, 'rate:average', 'Hourly rate in effect', 'Average hourly rate of the team (day-weighted)',
        avg_hourly_rate_usd, 'USD per hour', 'raw_crm.agent_rates and agents employed in the month'
    from roi_months
    union all
    select
        month_start, 'agents', 'Hourly rate in effect', 'Number of agents employed in the month',
        number_of_agents, 'agents', 'raw_crm.agents (hired_at .. terminated_at)'
    from roi_months
    union all
    select
        roi_months.month_start, 'minutes:' || minutes.unit_type, 'Minutes saved per automated unit',
        minutes.unit_type || ': ' || minutes.why, minutes.manual_minutes_saved, 'minutes per unit',
        'seed roi_time_savings_assumptions (assumption)'
    from roi_months
    cross join minutes
    union all
    select
        roi_months.month_start, 'assumption:' || assumptions.assumption, 'Estimates',
        assumptions.assumption || ': ' || assumptions.why, assumptions.value, assumptions.unit,
        'seed roi_assumptions: ' || assumptions.source
    from roi_months
    cross join assumptions
    union all
    select
        roi_months.month_start, 'weight:' || weights.class, 'Attribution weights',
        weights.class || ' attribution', weights.weight, 'share of the deal value',
        'seed attribution_weights (seed 001: 90 / 50 / 25 %)'
    from roi_months
    cross join weights
    union all
    select
        month_start, 'target:' || metric, 'Targets', metric_label || ' target', target_value, unit,
        'seed kpi_targets (set for ' || to_char(target_set_for, 'YYYY-MM') || ')'
    from target_status
    where scope = 'team' and target_value is not null
),

final as (
    select
        concat_ws('|', month_start, assumption_key) as assumption_row_key,
        *
    from listed
)

select * from final
