-- One row per workspace, campaign and local activity date (America/Chicago) up to the as-of date: everything the
-- Analytics tab counts, each on the local date of its own moment, plus the same counts one month earlier
-- (*_previous_month) for the tiles' previous-period change. Grain: workspace_id, campaign_id, activity_date.
with

counts as (
    select * from {{ ref('int_bison__campaign_day_counts') }}
),

workspaces as (
    select * from {{ ref('stg_bison__workspaces') }}
),

campaigns as (
    select * from {{ ref('stg_bison__campaigns') }}
),

as_of as (
    select * from {{ ref('dim_as_of') }}
),

previous_month as (
    -- Each day's counts moved onto the same day of the next month, clipped to its last day (30 and 31 January ->
    -- 28 February). Every day of a month lands in the next month exactly once, so summed over a selected month
    -- they give the whole previous month, and over the current month to date the previous month to the same day.
    select
        workspace_id,
        campaign_id,
        (activity_date + interval '1 month')::date as activity_date,
        measure || '_previous_month' as measure,
        n
    from counts
    where measure in ('contacts_uploaded', 'emails_sent', 'tracked_emails_sent', 'tracked_emails_opened',
                      'emails_replied', 'leads_emailed', 'leads_replied', 'interested_leads')
),

both_months as (
    select * from counts
    union all
    select * from previous_month
),

pivoted as (
    select
        both_months.workspace_id,
        both_months.campaign_id,
        both_months.activity_date,
        coalesce(sum(n) filter (where measure = 'contacts_uploaded'), 0)::integer as contacts_uploaded,
        coalesce(sum(n) filter (where measure = 'emails_sent'), 0)::integer as emails_sent,
        coalesce(sum(n) filter (where measure = 'tracked_emails_sent'), 0)::integer as tracked_emails_sent,
        coalesce(sum(n) filter (where measure = 'tracked_emails_opened'), 0)::integer as tracked_emails_opened,
        coalesce(sum(n) filter (where measure = 'emails_replied'), 0)::integer as emails_replied,
        coalesce(sum(n) filter (where measure = 'leads_emailed'), 0)::integer as leads_emailed,
        coalesce(sum(n) filter (where measure = 'leads_replied'), 0)::integer as leads_replied,
        coalesce(sum(n) filter (where measure = 'interested_leads'), 0)::integer as interested_leads,
        coalesce(sum(n) filter (where measure = 'emails_opened_on_day'), 0)::integer as emails_opened_on_day,
        coalesce(sum(n) filter (where measure = 'emails_replied_on_day'), 0)::integer as emails_replied_on_day,
        coalesce(sum(n) filter (where measure = 'emails_bounced_on_day'), 0)::integer as emails_bounced_on_day,
        coalesce(sum(n) filter (where measure = 'leads_unsubscribed'), 0)::integer as leads_unsubscribed,
        coalesce(sum(n) filter (where measure = 'contacts_uploaded_previous_month'), 0)::integer
            as contacts_uploaded_previous_month,
        coalesce(sum(n) filter (where measure = 'emails_sent_previous_month'), 0)::integer as emails_sent_previous_month,
        coalesce(sum(n) filter (where measure = 'tracked_emails_sent_previous_month'), 0)::integer
            as tracked_emails_sent_previous_month,
        coalesce(sum(n) filter (where measure = 'tracked_emails_opened_previous_month'), 0)::integer
            as tracked_emails_opened_previous_month,
        coalesce(sum(n) filter (where measure = 'emails_replied_previous_month'), 0)::integer
            as emails_replied_previous_month,
        coalesce(sum(n) filter (where measure = 'leads_emailed_previous_month'), 0)::integer
            as leads_emailed_previous_month,
        coalesce(sum(n) filter (where measure = 'leads_replied_previous_month'), 0)::integer
            as leads_replied_previous_month,
        coalesce(sum(n) filter (where measure = 'interested_leads_previous_month'), 0)::integer
            as interested_leads_previous_month
    from both_months
    cross join as_of
    where both_months.activity_date <= as_of.as_of_date
    group by both_months.workspace_id, both_months.campaign_id, both_months.activity_date
),

final as (
    select
        concat_ws('|', pivoted.workspace_id, coalesce(pivoted.campaign_id::text, 'none'), pivoted.activity_date)
            as campaign_day_key,
        pivoted.workspace_id,
        workspaces.name as workspace_name,
        pivoted.campaign_id,
        coalesce(campaigns.name, case when pivoted.campaign_id is null then 'No campaign' else 'Unknown campaign' end)
            as campaign_name,
        campaigns.status as campaign_status,
        coalesce(campaigns.track_opens, false) as campaign_tracks_opens,
        pivoted.activity_date,
        pivoted.contacts_uploaded,
        pivoted.emails_sent,
        pivoted.tracked_emails_sent,
        pivoted.tracked_emails_opened,
        pivoted.emails_replied,
        pivoted.leads_emailed,
        pivoted.leads_replied,
        pivoted.interested_leads,
        pivoted.emails_opened_on_day,
        pivoted.emails_replied_on_day,
        pivoted.emails_bounced_on_day,
        pivoted.leads_unsubscribed,
        pivoted.contacts_uploaded_previous_month,
        pivoted.emails_sent_previous_month,
        pivoted.tracked_emails_sent_previous_month,
        pivoted.tracked_emails_opened_previous_month,
        pivoted.emails_replied_previous_month,
        pivoted.leads_emailed_previous_month,
        pivoted.leads_replied_previous_month,
        pivoted.interested_leads_previous_month
    from pivoted
    left join workspaces on workspaces.workspace_id = pivoted.workspace_id
    left join campaigns on campaigns.campaign_id = pivoted.campaign_id
)

select * from final
