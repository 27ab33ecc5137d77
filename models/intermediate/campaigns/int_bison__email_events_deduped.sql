-- One row per distinct webhook event. Bison delivers webhooks at least once, so one event can arrive twice under
-- two delivery ids with the same payload (type, workspace, campaign, lead, e-mail, time, interest flag): the first
-- delivery is kept and the number of deliveries recorded. Repeated opens of one e-mail have different times and
-- stay separate events.
-- a table: every Bison model below reads it, and its tests would otherwise recompute the dedupe
{{ config(materialized='table') }}

with

events as (
    select * from {{ ref('stg_bison__email_events') }}
),

ranked as (
    select
        events.*,
        row_number() over (payload order by events.email_event_id) as delivery_number,
        count(*) over payload as deliveries
    from events
    window payload as (
        partition by event_type, workspace_id, campaign_id, lead_id, scheduled_email_id, occurred_at, is_interested
    )
),

final as (
    select
        email_event_id,
        event_type,
        workspace_id,
        campaign_id,
        lead_id,
        scheduled_email_id,
        sender_email,
        is_interested,
        occurred_at,
        {{ reporting_date('occurred_at') }} as occurred_date,
        deliveries::integer as deliveries
    from ranked
    where delivery_number = 1
)

select * from final
