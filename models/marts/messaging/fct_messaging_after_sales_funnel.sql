{{ config(indexes=[{'columns': ['sent_date']}]) }}
-- The After Sales funnel (seed 003): one row per after-sales invitation sent up to the as-of moment and funnel
-- phase it reached: 1 invitation sent, 2 customer replied (joined), 3 updates shared (after replying). A cohort by
-- the local date the invitation was sent (D44); a phase reached after the as-of moment does not count yet. Each
-- row carries the conversation link and how long the conversation has been waiting for the customer (never
-- joined) or for the dealer (customer joined, no dealer user did), for the two tables beside the funnel; and three
-- listed rows per organization so the funnel always shows its three phases.
with

invitations as (
    select * from {{ ref('stg_web1on1__after_sales_invitations') }}
),

conversations as (
    select * from {{ ref('int_messaging__conversations') }}
),

organizations as (
    select * from {{ ref('stg_web1on1__organizations') }}
),

users as (
    select * from {{ ref('int_messaging__users') }}
),

locations as (
    select * from {{ ref('stg_web1on1__locations') }}
),

departments as (
    select * from {{ ref('stg_web1on1__departments') }}
),

as_of as (
    select * from {{ ref('dim_as_of') }}
),

sent as (
    select
        invitations.invitation_id,
        invitations.organization_id,
        organizations.name as organization_name,
        invitations.conversation_id,
        conversations.url as conversation_url,
        invitations.sent_at,
        {{ to_reporting_tz('invitations.sent_at') }} as sent_at_local,
        {{ reporting_date('invitations.sent_at') }} as sent_date,
        coalesce(locations.name, 'no location') as location_name,
        coalesce(departments.name, 'no department') as department_name,
        coalesce(users.user_label, 'no user') as advisor_label,
        coalesce(invitations.contact_joined_at <= as_of.as_of_at, false) as contact_joined,
        coalesce(invitations.dealer_joined_at <= as_of.as_of_at, false) as dealer_joined,
        coalesce(
            invitations.contact_joined_at <= as_of.as_of_at
            and invitations.first_update_shared_at <= as_of.as_of_at, false
        ) as updates_shared,
        invitations.contact_joined_at,
        as_of.as_of_at
    from invitations
    cross join as_of
    inner join organizations on invitations.organization_id = organizations.organization_id
    left join conversations on invitations.conversation_id = conversations.conversation_id
    left join users on invitations.user_id = users.user_id
    left join locations on invitations.location_id = locations.location_id
    left join departments on invitations.department_id = departments.department_id
    where invitations.sent_at <= as_of.as_of_at
),

phases as (
    select
        1 as phase_number,
        'Invitation sent' as phase_name
    union all
    select
        2 as phase_number,
        'Customer replied' as phase_name
    union all
    select
        3 as phase_number,
        'Updates shared' as phase_name
),

invitation_rows as (
    select
        sent.organization_id,
        sent.organization_name,
        sent.invitation_id,
        phases.phase_number,
        phases.phase_name,
        sent.conversation_id,
        sent.conversation_url,
        sent.sent_date,
        sent.sent_at_local,
        sent.location_name,
        sent.department_name,
        sent.advisor_label,
        sent.contact_joined,
        sent.dealer_joined,
        case when not sent.contact_joined
                then round((extract(epoch from sent.as_of_at - sent.sent_at) / 3600)::numeric, 1)
        end as hours_waiting_for_customer,
        case when sent.contact_joined and not sent.dealer_joined
                then round((extract(epoch from sent.as_of_at - sent.contact_joined_at) / 3600)::numeric, 1)
        end as hours_waiting_for_dealer,
        false as is_listed,
        1 as invitations
    from sent
    inner join phases
        on phases.phase_number = 1
            or (phases.phase_number = 2 and sent.contact_joined)
            or (phases.phase_number = 3 and sent.updates_shared)
),

-- the three phases of every organization, dated the as-of date and counting nothing: the funnel lists each phase
-- (0 when no invitation of the range reached it; cards set `listed_by`)
listed_rows as (
    select
        organizations.organization_id,
        organizations.name as organization_name,
        'listed ' || organizations.organization_id as invitation_id,
        phases.phase_number,
        phases.phase_name,
        null::text as conversation_id,
        null::text as conversation_url,
        as_of.as_of_date as sent_date,
        null::timestamp as sent_at_local,
        null::text as location_name,
        null::text as department_name,
        null::text as advisor_label,
        null::boolean as contact_joined,
        null::boolean as dealer_joined,
        null::numeric as hours_waiting_for_customer,
        null::numeric as hours_waiting_for_dealer,
        true as is_listed,
        null::integer as invitations
    from organizations
    cross join phases
    cross join as_of
),

final as (
    select * from invitation_rows
    union all
    select * from listed_rows
)

select * from final
