-- One row per bot lead with reporting-time-zone calendar fields, confidence band and the
-- repeat-lead flag. Shared by every lead-capture mart.
with

leads as (
    select * from {{ ref('stg_bot_leads__leads') }}
),

repeats as (
    select
        lead_id,
        -- a lead is a repeat when an earlier lead (created_at, then lead_id) had the same
        -- normalised e-mail or the same normalised phone
        case
            when email_normalized is null then false
            else row_number() over (partition by email_normalized order by created_at, lead_id) > 1
        end as is_repeat_by_email,
        case
            when phone_normalized is null then false
            else row_number() over (partition by phone_normalized order by created_at, lead_id) > 1
        end as is_repeat_by_phone
    from leads
),

enriched as (
    select
        leads.lead_id,
        leads.source,
        leads.bot_type,
        leads.service_needed,
        leads.status,
        leads.region,
        coalesce(nullif(trim(leads.region), ''), 'Unknown') as region_label,
        leads.confidence_score,
        case
            when leads.confidence_score is null then 'unscored'
            when leads.confidence_score >= 0.8 then 'high'
            when leads.confidence_score < 0.5 then 'low'
            else 'medium'
        end as confidence_band,
        leads.status = 'converted' as is_converted,
        repeats.is_repeat_by_email or repeats.is_repeat_by_phone as is_repeat_lead,
        case
            when repeats.is_repeat_by_email and repeats.is_repeat_by_phone then 'email and phone'
            when repeats.is_repeat_by_email then 'email'
            when repeats.is_repeat_by_phone then 'phone'
        end as repeat_matched_on,
        leads.email_normalized,
        leads.phone_normalized,
        leads.created_at,
        {{ to_reporting_tz('leads.created_at') }} as created_at_local,
        {{ reporting_date('leads.created_at') }} as created_date,
        leads.updated_at
    from leads
    inner join repeats on leads.lead_id = repeats.lead_id
)

select * from enriched
