-- One row per invited person (an e-mail address matched in any case and without surrounding spaces, D30)
-- up to the as-of moment: their first invitation, their activation and their first charge at or after the
-- activation. Re-invitations of the same address count once, dated by the first invitation.
with

invitations as (
    select * from {{ ref('stg_omnichannel__invitations') }}
    where {{ as_of_cut('invited_at') }}
        and email_normalized is not null
),

charges as (
    select * from {{ ref('int_omnichannel__charges') }}
),

first_invitations as (
    select
        email_normalized,
        invitation_id as first_invitation_id,
        invited_at as first_invited_at,
        count(*) over (partition by email_normalized) as invitations,
        row_number() over (partition by email_normalized order by invited_at, invitation_id) as invitation_number
    from invitations
),

activations as (
    -- the earliest activation by the as-of moment, of any of the person's invitations
    select
        email_normalized,
        user_id,
        activated_at,
        row_number() over (partition by email_normalized order by activated_at, invitation_id) as activation_number
    from invitations
    where {{ as_of_cut('activated_at') }}
        and user_id is not null
),

first_charges as (
    -- a charge before the activation (clock skew, a re-used account) does not make the person transacting
    select
        activations.email_normalized,
        min(charges.charged_at) as first_charged_at
    from activations
    inner join charges
        on activations.user_id = charges.user_id
            and activations.activated_at <= charges.charged_at
    where activations.activation_number = 1
    group by activations.email_normalized
),

final as (
    select
        first_invitations.email_normalized,
        first_invitations.first_invitation_id,
        first_invitations.invitations,
        first_invitations.first_invited_at,
        {{ reporting_date('first_invitations.first_invited_at') }} as invited_date,
        activations.user_id,
        activations.activated_at,
        first_charges.first_charged_at
    from first_invitations
    left join activations
        on first_invitations.email_normalized = activations.email_normalized
            and activations.activation_number = 1
    left join first_charges on first_invitations.email_normalized = first_charges.email_normalized
    where first_invitations.invitation_number = 1
)

select * from final
