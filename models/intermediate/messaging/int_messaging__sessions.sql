-- Sessions started up to the as-of moment (every interaction between a contact and a dealer starts one),
-- with their local date and hour.
with

sessions as (
    select * from {{ ref('stg_web1on1__sessions') }}
),

final as (
    select
        session_id,
        organization_id,
        conversation_id,
        user_id,
        channel,
        started_at,
        {{ reporting_date('started_at') }} as local_date,
        extract(hour from {{ to_reporting_tz('started_at') }})::integer as local_hour
    from sessions
    where {{ as_of_cut('started_at') }}
)

select * from final
