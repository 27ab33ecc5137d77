-- Every channel with every category (and the channel and category of charges whose blast is unknown, if
-- any): the segments the dense marts list with zeros, so a category filter still lists every channel.
with

blasts as (
    select * from {{ ref('int_omnichannel__blasts') }}
),

charges as (
    select * from {{ ref('int_omnichannel__charges') }}
),

channels as (
    select distinct channel from blasts
),

categories as (
    select distinct category from blasts
),

final as (
    select
        channels.channel,
        categories.category
    from channels
    cross join categories
    union
    select distinct
        channel,
        category
    from charges
)

select * from final
