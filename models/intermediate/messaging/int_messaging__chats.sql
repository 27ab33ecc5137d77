-- One row per chat: a conversation with at least one result added up to the as-of moment (an effective chat).
-- It is a lead when a result is typed lead or captured an e-mail or phone, else a bot chat when a bot took part
-- in a result, else a service chat (precedence lead > bot > service, D35); dated by its first result; its
-- category is that of its first lead result for a lead, else of its first result (D83).
with

results as (
    select * from {{ ref('stg_web1on1__results') }}
),

flagged as (
    select
        result_id,
        conversation_id,
        organization_id,
        category,
        created_at,
        (
            result_type = 'lead'
            or nullif(trim(fields ->> 'email'), '') is not null
            or nullif(trim(fields ->> 'phone'), '') is not null
        ) as is_lead_result,
        result_type = 'bot' or bot_id is not null as is_bot_result
    from results
    where {{ as_of_cut('created_at') }}
),

ordered as (
    select
        flagged.*,
        row_number()
            over (partition by flagged.conversation_id order by flagged.created_at, flagged.result_id)
            as result_number,
        row_number()
            over (
                partition by flagged.conversation_id
                order by not flagged.is_lead_result, flagged.created_at, flagged.result_id
            )
            as lead_result_number
    from flagged
),

chats as (
    select
        conversation_id,
        min(organization_id) as organization_id,
        min(created_at) as first_result_at,
        bool_or(is_lead_result) as is_lead,
        bool_or(is_bot_result) as is_bot,
        min(category) filter (where result_number = 1) as first_category,
        min(category) filter (where lead_result_number = 1 and is_lead_result) as lead_category,
        count(*) as results
    from ordered
    group by conversation_id
),

final as (
    select
        conversation_id,
        organization_id,
        first_result_at,
        {{ reporting_date('first_result_at') }} as first_result_date,
        extract(hour from {{ to_reporting_tz('first_result_at') }})::integer as first_result_hour,
        case when is_lead then 'lead' when is_bot then 'bot' else 'service' end as chat_class,
        is_lead,
        {{ messaging_category_label('coalesce(lead_category, first_category)') }} as chat_category,
        results
    from chats
)

select * from final
