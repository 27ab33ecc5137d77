with

source as (
    select * from {{ source('web1on1', 'results') }}
),

renamed as (
    select
        ---------- ids
        id as result_id,
        organization_id,
        conversation_id,
        user_id,
        bot_id,
        ---------- text
        lower(trim(category)) as category,
        lower(trim(result_type)) as result_type,
        fields,
        ---------- timestamps (UTC, as loaded)
        created_at,
        updated_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
