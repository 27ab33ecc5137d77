-- One row per local date from the first omnichannel data to the as-of date: registrations and the
-- DAU / WAU / MAU windows computed once on the date spine (D27). Dates without activity count 0.
with

dates as (
    select * from {{ ref('int_omnichannel__dates') }}
),

users as (
    select * from {{ ref('stg_omnichannel__users') }}
),

spined as (
    select * from {{ ref('int_omnichannel__user_days_spined') }}
),

registrations as (
    select
        {{ reporting_date('registered_at') }} as usage_date,
        count(*)::integer as new_registered_users
    from users
    where {{ as_of_cut('registered_at') }}
    group by {{ reporting_date('registered_at') }}
),

active as (
    select
        calendar_date as usage_date,
        count(*) filter (where is_active_on_date)::integer as daily_active_users,
        count(*) filter (where is_active_in_7_days)::integer as weekly_active_users,
        count(*)::integer as monthly_active_users
    from spined
    group by calendar_date
),

final as (
    select
        dates.calendar_date as usage_date,
        coalesce(registrations.new_registered_users, 0) as new_registered_users,
        (sum(coalesce(registrations.new_registered_users, 0)) over (order by dates.calendar_date))::integer
            as registered_users_to_date,
        coalesce(active.daily_active_users, 0) as daily_active_users,
        coalesce(active.weekly_active_users, 0) as weekly_active_users,
        coalesce(active.monthly_active_users, 0) as monthly_active_users
    from dates
    left join registrations on dates.calendar_date = registrations.usage_date
    left join active on dates.calendar_date = active.usage_date
)

select * from final
