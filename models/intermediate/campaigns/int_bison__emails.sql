-- One row per e-mail sent up to the as-of moment (a scheduled e-mail with an email_sent event), with what
-- happened to it by then: first open, first reply, bounce. The cohort behind Open Rate and the per-e-mail reply
-- rate: an e-mail counts on its local send date, its open and reply wherever they fall later.
-- a table: read by the day counts and tested; a view would be recomputed for each
{{ config(materialized='table') }}

with

events as (
    select * from {{ ref('int_bison__email_events_deduped') }}
    where {{ as_of_cut('occurred_at') }}
),

campaigns as (
    select * from {{ ref('stg_bison__campaigns') }}
),

sends as (
    -- a scheduled e-mail is sent once; should Bison report two sends, the first one counts
    select distinct on (scheduled_email_id)
        scheduled_email_id,
        workspace_id,
        campaign_id,
        lead_id,
        occurred_at as sent_at
    from events
    where event_type = 'email_sent' and scheduled_email_id is not null
    order by scheduled_email_id, occurred_at, email_event_id
),

responses as (
    select
        scheduled_email_id,
        min(occurred_at) filter (where event_type = 'email_opened') as first_opened_at,
        count(*) filter (where event_type = 'email_opened') as opens,
        min(occurred_at) filter (where event_type = 'contact_replied') as first_replied_at,
        min(occurred_at) filter (where event_type = 'email_bounced') as bounced_at
    from events
    where event_type in ('email_opened', 'contact_replied', 'email_bounced')
    group by scheduled_email_id
),

final as (
    select
        sends.scheduled_email_id,
        sends.workspace_id,
        sends.campaign_id,
        sends.lead_id,
        coalesce(campaigns.track_opens, false) as campaign_tracks_opens,
        sends.sent_at,
        {{ reporting_date('sends.sent_at') }} as sent_date,
        responses.first_opened_at,
        {{ reporting_date('responses.first_opened_at') }} as first_opened_date,
        coalesce(responses.opens, 0)::integer as opens,
        responses.first_replied_at,
        {{ reporting_date('responses.first_replied_at') }} as first_replied_date,
        responses.bounced_at,
        {{ reporting_date('responses.bounced_at') }} as bounced_date,
        -- an open can only be seen where the campaign tracks opens; keeps the open rate's numerator inside its
        -- denominator
        coalesce(campaigns.track_opens, false) and responses.first_opened_at is not null as is_opened,
        responses.first_replied_at is not null as is_replied,
        responses.bounced_at is not null as is_bounced
    from sends
    left join responses on sends.scheduled_email_id = responses.scheduled_email_id
    left join campaigns on sends.campaign_id = campaigns.campaign_id
)

select * from final
