-- One row per blast charge up to the as-of moment, with the channel and category of its blast and its
-- local date and hour. A charge whose blast is unknown keeps channel and category 'Unknown'.
with

charges as (
    select * from {{ ref('stg_omnichannel__blast_charges') }}
),

blasts as (
    select * from {{ ref('int_omnichannel__blasts') }}
),

final as (
    select
        charges.charge_id,
        charges.blast_id,
        charges.user_id,
        coalesce(blasts.channel, 'Unknown') as channel,
        coalesce(blasts.category, 'Unknown') as category,
        charges.amount,
        charges.charged_messages,
        charges.charged_at,
        {{ reporting_date('charges.charged_at') }} as charge_date,
        extract(hour from {{ to_reporting_tz('charges.charged_at') }})::integer as charge_hour
    from charges
    left join blasts on charges.blast_id = blasts.blast_id
    where {{ as_of_cut('charges.charged_at') }}
)

select * from final
