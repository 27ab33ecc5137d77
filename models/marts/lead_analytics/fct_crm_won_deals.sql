-- One row per won CRM lead's close (its first won deal), dated by the close (D17: seed 001 revenue is won deal
-- value dated by closed_at): the revenue and automation-attributed revenue of a period (D16 with the derived class
-- of D102) for the executive summary and the ROI.
with

leads as (
    select * from {{ ref('fct_crm_leads') }}
),

final as (
    select
        won_deal_id,
        lead_id,
        organization_name,
        location_name,
        source,
        agent_name,
        closed_at,
        closed_date,
        close_channel,
        attribution_class,
        attribution_weight,
        won_value_usd,
        attributed_value_usd,
        crm_attribution_type,
        attribution_label_differs
    from leads
    where is_won
)

select * from final
