-- One row per platform activity event up to the as-of moment, with its local date and hour and whether it
-- is use of the OCA blast feature (composing or sending a blast).
with

activity as (
    select * from {{ ref('stg_omnichannel__user_activity') }}
),

final as (
    select
        event_id,
        user_id,
        event_type,
        event_type in ('compose_blast', 'send_blast') as is_blast_feature,
        occurred_at,
        {{ reporting_date('occurred_at') }} as activity_date,
        extract(hour from {{ to_reporting_tz('occurred_at') }})::integer as activity_hour
    from activity
    where {{ as_of_cut('occurred_at') }}
)

select * from final
