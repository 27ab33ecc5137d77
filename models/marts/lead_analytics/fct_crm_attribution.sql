-- Automation-attributed revenue of each won CRM lead under two models, side by side (D117): the seed's rule
-- (deal value x weight of the derived class, 90/50/25/0 %, D16/D102) and a position-based multi-touch model
-- (40 % first touch, 40 % last, 20 % shared by the touches between, over the outbound touches up to the close;
-- the automation's credit is the weight of its own touches). Dated by the close (D17).
with

leads as (
    select * from {{ ref('fct_crm_leads') }}
),

touches as (
    select * from {{ ref('fct_crm_touches') }}
),

position_share as (
    -- the automation's share from counts, exact: 0.2 x (automated middle touches) / (middle touches) is at most
    -- 0.2, where a sum of rounded per-touch weights (0.066667 x 3) could credit more than the deal
    select
        lead_id,
        case
            when max(touches_before_close) = 1 then max(case when is_automated then 1.0 else 0 end)
            when max(touches_before_close) = 2 then 0.5 * count(*) filter (where is_automated)
            else
                0.4 * count(*) filter (where is_automated and position_before_close = 1)
                + 0.4 * count(*) filter (where is_automated and position_before_close = touches_before_close)
                + 0.2 * count(*) filter (
                    where is_automated and position_before_close > 1 and position_before_close < touches_before_close
                ) / (max(touches_before_close) - 2)
        end as automation_share
    from touches
    where position_before_close is not null
    group by 1
),

models as (
    select
        leads.lead_id,
        1 as model_order,
        'Rule 90/50/25 (class of the deal)' as attribution_model,
        leads.attributed_value_usd
    from leads
    where leads.is_won
    union all
    select
        leads.lead_id,
        2 as model_order,
        'Position-based 40/20/40' as attribution_model,
        coalesce(round(leads.won_value_usd * position_share.automation_share, 2), 0) as attributed_value_usd
    from leads
    left join position_share on leads.lead_id = position_share.lead_id
    where leads.is_won
),

final as (
    select
        models.lead_id || '-' || models.model_order as attribution_row_id,
        models.lead_id,
        leads.won_deal_id,
        models.model_order,
        models.attribution_model,
        models.attributed_value_usd,
        leads.won_value_usd,
        leads.closed_date,
        leads.organization_name,
        leads.location_name,
        leads.source,
        leads.agent_name
    from models
    inner join leads on models.lead_id = leads.lead_id
)

select * from final
