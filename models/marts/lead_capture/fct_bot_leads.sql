{{ config(indexes=[{'columns': ['created_date']}]) }}
-- One row per bot lead captured up to the as-of moment: the table behind every lead-capture card.
with

enriched as (
    select * from {{ ref('int_bot_leads__enriched') }}
),

final as (
    select
        lead_id,
        source,
        bot_type,
        service_needed,
        status,
        region,
        region_label,
        confidence_score,
        confidence_band,
        confidence_band = 'high' as is_high_confidence,
        confidence_band = 'low' as is_low_confidence,
        is_converted,
        is_repeat_lead,
        repeat_matched_on,
        {{ contact_key('email_normalized') }} as email_key,
        {{ mask_email('email_normalized') }} as email_masked,
        {{ contact_key('phone_normalized') }} as phone_key,
        {{ mask_phone('phone_normalized') }} as phone_masked,
        created_at,
        created_at_local,
        created_date,
        updated_at
    from enriched
    where {{ as_of_cut('created_at') }}
)

select * from final
