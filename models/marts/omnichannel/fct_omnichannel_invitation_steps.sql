-- One row per invited person and funnel step they reached: 1 Invited, 2 Activated, 3 Transacting (D30).
-- Every step of a person carries the local date of their first invitation, so a date range selects a
-- cohort of invited people and follows them to the as-of moment. One row without a person per date and
-- step lists every step, 0 when nobody of the cohort reached it. A person is a hash of the normalised e-mail
-- (D152); the address itself is in marts_restricted.rst_omnichannel_invited_people.
with

people as (
    select * from {{ ref('int_omnichannel__invited_people') }}
),

dates as (
    select * from {{ ref('int_omnichannel__dates') }}
),

step_names as (
    select
        1 as step_order,
        'Invited' as step
    union all
    select
        2 as step_order,
        'Activated' as step
    union all
    select
        3 as step_order,
        'Transacting' as step
),

reached as (
    select
        email_normalized,
        1 as step_order,
        first_invited_at as reached_at
    from people
    union all
    select
        email_normalized,
        2 as step_order,
        activated_at as reached_at
    from people
    where activated_at is not null
    union all
    select
        email_normalized,
        3 as step_order,
        first_charged_at as reached_at
    from people
    where first_charged_at is not null
),

person_steps as (
    select
        people.invited_date,
        reached.email_normalized,
        reached.step_order,
        reached.reached_at,
        people.first_invitation_id,
        people.invitations,
        people.user_id
    from reached
    inner join people on reached.email_normalized = people.email_normalized
),

zero_steps as (
    select
        dates.calendar_date as invited_date,
        null::text as email_normalized,
        step_names.step_order,
        null::timestamptz as reached_at,
        null::text as first_invitation_id,
        null::bigint as invitations,
        null::text as user_id
    from dates
    cross join step_names
),

unioned as (
    select * from person_steps
    union all
    select * from zero_steps
),

final as (
    select
        unioned.invited_date,
        {{ contact_key('unioned.email_normalized') }} as person_key,
        unioned.step_order,
        step_names.step,
        unioned.reached_at,
        unioned.first_invitation_id,
        unioned.invitations,
        unioned.user_id
    from unioned
    inner join step_names on unioned.step_order = step_names.step_order
)

select * from final
