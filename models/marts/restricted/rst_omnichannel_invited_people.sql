-- The invited people's e-mails in clear text, for the admin role only (schema marts_restricted, D152), keyed
-- by the person_key of fct_omnichannel_invitation_steps.
with

people as (
    select * from {{ ref('int_omnichannel__invited_people') }}
),

final as (
    select
        {{ contact_key('email_normalized') }} as person_key,
        email_normalized
    from people
)

select * from final
