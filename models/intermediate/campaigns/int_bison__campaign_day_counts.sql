-- What happened per workspace, campaign and local calendar date (America/Chicago), one row per measure: each
-- thing is counted once, on the local date of its own moment (never a pipeline month). Long format, so the mart
-- can add the previous month's counts before pivoting.
--   contacts_uploaded      leads uploaded that day (upload campaign)
--   emails_sent            e-mails sent that day; tracked_emails_sent: of them, in campaigns that track opens
--   tracked_emails_opened  of the tracked e-mails sent that day, those opened by the as-of moment (send cohort)
--   emails_replied         of the e-mails sent that day, those replied to by the as-of moment (send cohort)
--   leads_emailed          leads whose first e-mail went out that day; leads_replied: of them, those who replied
--   interested_leads       leads first marked interested that day
--   emails_opened_on_day / emails_replied_on_day / emails_bounced_on_day: e-mails first opened / first replied
--                          to / bounced that day; leads_unsubscribed: leads who unsubscribed that day
-- a table: its grain test would otherwise recompute every count
{{ config(materialized='table') }}

with

emails as (
    select * from {{ ref('int_bison__emails') }}
),

leads as (
    select * from {{ ref('int_bison__leads') }}
),

counted as (
    select
        workspace_id,
        upload_campaign_id as campaign_id,
        uploaded_date as activity_date,
        'contacts_uploaded' as measure
    from leads
    where uploaded_at is not null
    union all
    select
        workspace_id,
        campaign_id,
        sent_date as activity_date,
        'emails_sent' as measure
    from emails
    union all
    select
        workspace_id,
        campaign_id,
        sent_date as activity_date,
        'tracked_emails_sent' as measure
    from emails
    where campaign_tracks_opens
    union all
    select
        workspace_id,
        campaign_id,
        sent_date as activity_date,
        'tracked_emails_opened' as measure
    from emails
    where is_opened
    union all
    select
        workspace_id,
        campaign_id,
        sent_date as activity_date,
        'emails_replied' as measure
    from emails
    where is_replied
    union all
    select
        workspace_id,
        first_emailed_campaign_id as campaign_id,
        first_emailed_date as activity_date,
        'leads_emailed' as measure
    from leads
    where is_emailed
    union all
    select
        workspace_id,
        first_emailed_campaign_id as campaign_id,
        first_emailed_date as activity_date,
        'leads_replied' as measure
    from leads
    where is_emailed and is_replied
    union all
    select
        workspace_id,
        coalesce(first_emailed_campaign_id, upload_campaign_id) as campaign_id,
        first_interested_date as activity_date,
        'interested_leads' as measure
    from leads
    where is_interested
    union all
    select
        workspace_id,
        campaign_id,
        first_opened_date as activity_date,
        'emails_opened_on_day' as measure
    from emails
    where is_opened
    union all
    select
        workspace_id,
        campaign_id,
        first_replied_date as activity_date,
        'emails_replied_on_day' as measure
    from emails
    where is_replied
    union all
    select
        workspace_id,
        campaign_id,
        bounced_date as activity_date,
        'emails_bounced_on_day' as measure
    from emails
    where is_bounced
    union all
    select
        workspace_id,
        coalesce(first_emailed_campaign_id, upload_campaign_id) as campaign_id,
        unsubscribed_date as activity_date,
        'leads_unsubscribed' as measure
    from leads
    where is_unsubscribed
),

final as (
    select
        workspace_id,
        campaign_id,
        activity_date,
        measure,
        count(*)::integer as n
    from counted
    group by workspace_id, campaign_id, activity_date, measure
)

select * from final
