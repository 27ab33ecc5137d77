-- The attribution funnel of seed 001 (s001.attr_funnel) in long form: one row per CRM lead and funnel stage it
-- reached (Total leads, Automated response, Appointment scheduled, Deal closed), so one count of leads per stage
-- draws the funnel. A lead reaches a stage regardless of the ones before it (a manual-first lead can still book).
with

leads as (
    select * from {{ ref('fct_crm_leads') }}
),

stages as (
    select
        lead_id,
        1 as stage_order,
        'Total leads' as stage
    from leads
    union all
    select
        lead_id,
        2 as stage_order,
        'Automated response' as stage
    from leads
    where is_automated_response
    union all
    select
        lead_id,
        3 as stage_order,
        'Appointments scheduled' as stage
    from leads
    where has_appointment
    union all
    select
        lead_id,
        4 as stage_order,
        'Deals closed' as stage
    from leads
    where is_won
),

final as (
    select
        stages.lead_id || '-' || stages.stage_order as funnel_row_id,
        stages.lead_id,
        stages.stage_order,
        stages.stage,
        leads.created_date,
        leads.organization_name,
        leads.location_name,
        leads.source,
        leads.agent_name
    from stages
    inner join leads on stages.lead_id = leads.lead_id
)

select * from final
