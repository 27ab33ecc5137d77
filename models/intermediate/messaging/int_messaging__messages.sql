-- Chat messages that count as messaging (written by a contact, a user or a bot; system notices never count)
-- sent up to the as-of moment, with their local date and hour.
with

messages as (
    select * from {{ ref('stg_web1on1__messages') }}
),

final as (
    select
        message_id,
        organization_id,
        conversation_id,
        author_type,
        author_id,
        channel,
        created_at,
        {{ reporting_date('created_at') }} as local_date,
        extract(hour from {{ to_reporting_tz('created_at') }})::integer as local_hour
    from messages
    where author_type in ('contact', 'user', 'bot')
        and {{ as_of_cut('created_at') }}
)

select * from final
