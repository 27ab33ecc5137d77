-- One row per user and local date with platform activity: the daily active-user mart behind "Active
-- users" for a date range (distinct users over its rows).
with

user_days as (
    select * from {{ ref('int_omnichannel__user_days') }}
),

final as (
    select
        user_id,
        user_key,
        activity_date,
        events,
        blast_feature_events
    from user_days
)

select * from final
