-- One row per message blast with the channel and category as the dashboard shows them (the one place that
-- names them) and its local send date; blasts not sent by the as-of moment have no send date.
with

blasts as (
    select * from {{ ref('stg_omnichannel__message_blasts') }}
),

final as (
    select
        blast_id,
        user_id,
        case channel
            when 'whatsapp' then 'WhatsApp'
            when 'email' then 'Email'
            when 'sms' then 'SMS'
            when 'ivr' then 'IVR'
            else initcap(channel)
        end as channel,
        initcap(category) as category,
        recipients,
        delivered,
        created_at,
        case when {{ as_of_cut('sent_at') }} then sent_at end as sent_at,
        case when {{ as_of_cut('sent_at') }} then {{ reporting_date('sent_at') }} end as sent_date
    from blasts
    where {{ as_of_cut('created_at') }}
)

select * from final
