-- The bot leads' contacts in clear text, for the admin role only (schema marts_restricted, D152): the marts
-- carry hashed keys and masked values instead.
with

enriched as (
    select * from {{ ref('int_bot_leads__enriched') }}
),

final as (
    select
        lead_id,
        {{ contact_key('email_normalized') }} as email_key,
        email_normalized,
        {{ contact_key('phone_normalized') }} as phone_key,
        phone_normalized
    from enriched
    where {{ as_of_cut('created_at') }}
)

select * from final
