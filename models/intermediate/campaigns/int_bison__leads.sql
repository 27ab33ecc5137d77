-- One row per Bison lead known by the as-of moment: uploaded (in the leads export) or seen in an e-mail event,
-- with its milestones by then: upload, first e-mail, first open, first reply, first interest, bounce,
-- unsubscribe. The cohorts behind Reply Rate (leads by first e-mail) and the conversion funnel (leads by upload).
-- a table: read by the day counts and the funnel and tested; a view would be recomputed for each
{{ config(materialized='table') }}

with

leads as (
    select * from {{ ref('stg_bison__leads') }}
    where {{ as_of_cut('created_at') }}
),

events as (
    select * from {{ ref('int_bison__email_events_deduped') }}
    where {{ as_of_cut('occurred_at') }} and lead_id is not null
),

milestones as (
    select
        lead_id,
        min(workspace_id) as workspace_id,
        min(occurred_at) filter (where event_type = 'email_sent') as first_emailed_at,
        (
            array_agg(campaign_id order by occurred_at, email_event_id)
            filter (where event_type = 'email_sent')
        )[1
        ] as first_emailed_campaign_id,
        min(occurred_at) filter (where event_type = 'email_opened') as first_opened_at,
        min(occurred_at) filter (where event_type = 'contact_replied') as first_replied_at,
        -- "Bison webhook (is_interested=True)": an interested event, or a reply flagged interested
        min(occurred_at) filter (where event_type = 'contact_interested' or is_interested) as first_interested_at,
        min(occurred_at) filter (where event_type = 'email_bounced') as first_bounced_at,
        min(occurred_at) filter (where event_type = 'contact_unsubscribed') as unsubscribed_at
    from events
    group by lead_id
),

final as (
    select
        coalesce(leads.lead_id, milestones.lead_id) as lead_id,
        coalesce(leads.workspace_id, milestones.workspace_id) as workspace_id,
        leads.campaign_id as upload_campaign_id,
        milestones.first_emailed_campaign_id,
        leads.created_at as uploaded_at,
        {{ reporting_date('leads.created_at') }} as uploaded_date,
        milestones.first_emailed_at,
        {{ reporting_date('milestones.first_emailed_at') }} as first_emailed_date,
        milestones.first_opened_at,
        milestones.first_replied_at,
        milestones.first_interested_at,
        {{ reporting_date('milestones.first_interested_at') }} as first_interested_date,
        milestones.first_bounced_at,
        milestones.unsubscribed_at,
        {{ reporting_date('milestones.unsubscribed_at') }} as unsubscribed_date,
        milestones.first_emailed_at is not null as is_emailed,
        -- a reply or an interest shows the e-mail was read even where no open was tracked
        coalesce(milestones.first_opened_at, milestones.first_replied_at, milestones.first_interested_at)
        is not null as is_opened_or_replied,
        coalesce(milestones.first_replied_at, milestones.first_interested_at) is not null as is_replied,
        milestones.first_interested_at is not null as is_interested,
        -- an exit only when the lead did not reply after all (a bounce then a reply is a reply)
        milestones.first_bounced_at is not null
        and coalesce(milestones.first_replied_at, milestones.first_interested_at) is null as is_bounced_exit,
        milestones.unsubscribed_at is not null as is_unsubscribed
    from leads
    full outer join milestones on leads.lead_id = milestones.lead_id
)

select * from final
