-- One row per user id seen in any omnichannel table, with a small integer key. Marts count distinct users
-- by this key: counting integers is several times faster than counting the text ids, and a user id that is
-- missing from the users table (the relationships tests only warn) still gets a key and is counted.
with

users as (
    select * from {{ ref('stg_omnichannel__users') }}
),

activity as (
    select * from {{ ref('stg_omnichannel__user_activity') }}
),

blasts as (
    select * from {{ ref('stg_omnichannel__message_blasts') }}
),

charges as (
    select * from {{ ref('stg_omnichannel__blast_charges') }}
),

invitations as (
    select * from {{ ref('stg_omnichannel__invitations') }}
),

user_ids as (
    select user_id from users
    union
    select user_id from activity
    union
    select user_id from blasts
    union
    select user_id from charges
    union
    select user_id from invitations
    where user_id is not null
),

final as (
    select
        user_id,
        (row_number() over (order by user_id))::integer as user_key
    from user_ids
)

select * from final
