-- The automation's go-live per client organisation: the local date (reporting time zone, the calendar every
-- before/after comparison groups by) of the first automated activity or workflow event of any lead of any of
-- its locations (D26 as decided in issue 16). An organisation whose leads were never touched by the automation
-- has a null go-live date: all its leads are "before".
with

leads as (
    select * from {{ ref('stg_crm__leads') }}
),

locations as (
    select * from {{ ref('stg_crm__locations') }}
),

activities as (
    select * from {{ ref('stg_crm__activities') }}
),

workflow_events as (
    select * from {{ ref('stg_crm__workflow_events') }}
),

automated_moments as (
    select
        lead_id,
        occurred_at
    from activities
    where is_automated
    union all
    select
        lead_id,
        occurred_at
    from workflow_events
    where lead_id is not null
),

organisations as (
    select distinct organization_name from locations
),

first_automation as (
    select
        locations.organization_name,
        min(automated_moments.occurred_at) as go_live_at
    from automated_moments
    inner join leads on automated_moments.lead_id = leads.lead_id
    inner join locations on leads.location_id = locations.location_id
    group by 1
),

final as (
    select
        organisations.organization_name,
        first_automation.go_live_at,
        {{ reporting_date('first_automation.go_live_at') }} as go_live_date
    from organisations
    left join first_automation on organisations.organization_name = first_automation.organization_name
)

select * from final
