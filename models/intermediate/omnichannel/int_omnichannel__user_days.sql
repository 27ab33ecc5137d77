-- One row per user and local date with at least one platform activity event (any event type, login
-- included: an active day, D27) up to the as-of moment. A table: the user-day mart, the DAU/WAU/MAU spine
-- and the tests all read it, and the view would group 150,000 events for each of them.
{{ config(materialized='table') }}

with

activity as (
    select * from {{ ref('int_omnichannel__activity') }}
),

user_keys as (
    select * from {{ ref('int_omnichannel__user_keys') }}
),

final as (
    select
        activity.user_id,
        user_keys.user_key,
        activity.activity_date,
        count(*)::integer as events,
        count(*) filter (where activity.is_blast_feature)::integer as blast_feature_events
    from activity
    inner join user_keys on activity.user_id = user_keys.user_id
    group by activity.user_id, user_keys.user_key, activity.activity_date
)

select * from final
