-- One row per workspace, campaign and local activity date (America/Chicago) up to the as-of date: everything the
-- Analytics tab counts, each on the local date of its own moment, plus the same counts one month earlier
-- (*_previous_month) for the tiles' previous-period change (D90). Grain: workspace_id, campaign_id, activity_date.
-- Each measure is named once, in the lists below; its columns and their previous-month twins are generated.
{#- the counts the tiles compare with the previous month: each gets a <measure>_previous_month twin #}
{%- set compared = [
    'contacts_uploaded', 'emails_sent', 'tracked_emails_sent', 'tracked_emails_opened', 'emails_replied',
    'leads_emailed', 'leads_replied', 'interested_leads',
] %}
{#- the counts of the volume trend and the campaign table only #}
{%- set daily_only = ['emails_opened_on_day', 'emails_replied_on_day', 'emails_bounced_on_day', 'leads_unsubscribed'] %}
{%- set measures = compared + daily_only %}
{%- set columns = [] %}
{%- for measure in measures %}{% do columns.append(measure) %}{% endfor %}
{%- for measure in compared %}{% do columns.append(measure ~ '_previous_month') %}{% endfor %}

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
    select * from {{ ref('int_common__as_of_date') }}
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
    where measure in ('{{ compared | join("', '") }}')
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
    {%- for column in columns %}
        coalesce(sum(both_months.n) filter (where both_months.measure = '{{ column }}'), 0)::integer
            as {{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
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
    {%- for column in columns %}
        pivoted.{{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
    from pivoted
    left join workspaces on pivoted.workspace_id = workspaces.workspace_id
    left join campaigns on pivoted.campaign_id = campaigns.campaign_id
)

select * from final
