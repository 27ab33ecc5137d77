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
        rate_months.rate_days / nullif(rate_months.rated_days, 0) as assumption_value,
        'USD per hour' as unit,
        'raw_crm.agent_rates (valid_from .. next valid_from)' as source
    from rate_months
    inner join agents on rate_months.agent_id = agents.agent_id
    where rate_months.month_start in (select roi_months.month_start from roi_months)
    union all
    select
        month_start,
        'rate:average' as assumption_key,
        'Hourly rate in effect' as section,
        'Average hourly rate of the team (day-weighted)' as assumption,
        avg_hourly_rate_usd as assumption_value,
        'USD per hour' as unit,
        'raw_crm.agent_rates and agents employed in the month' as source
    from roi_months
    union all
    select
        month_start,
        'agents' as assumption_key,
        'Hourly rate in effect' as section,
        'Number of agents employed in the month' as assumption,
        number_of_agents as assumption_value,
        'agents' as unit,
        'raw_crm.agents (hired_at .. terminated_at)' as source
    from roi_months
    union all
    select
        roi_months.month_start,
        'minutes:' || minutes.unit_type as assumption_key,
        'Minutes saved per automated unit' as section,
        minutes.unit_type || ': ' || minutes.why as assumption,
        minutes.manual_minutes_saved as assumption_value,
        'minutes per unit' as unit,
        'seed roi_time_savings_assumptions (assumption)' as source
    from roi_months
    cross join minutes
    union all
    select
        roi_months.month_start,
        'assumption:' || assumptions.assumption as assumption_key,
        'Estimates' as section,
        assumptions.assumption || ': ' || assumptions.why as assumption,
        assumptions.value as assumption_value,
        assumptions.unit,
        'seed roi_assumptions: ' || assumptions.source as source
    from roi_months
    cross join assumptions
    union all
    select
        roi_months.month_start,
        'weight:' || weights.class as assumption_key,
        'Attribution weights' as section,
        weights.class || ' attribution' as assumption,
        weights.weight as assumption_value,
        'share of the deal value' as unit,
        'seed attribution_weights (seed 001: 90 / 50 / 25 %)' as source
    from roi_months
    cross join weights
    union all
    select
        month_start,
        'target:' || metric as assumption_key,
        'Targets' as section,
        metric_label || ' target' as assumption,
        target_value as assumption_value,
        unit,
        'seed kpi_targets (set for ' || to_char(target_set_for, 'YYYY-MM') || ')' as source
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
