with

source as (
    select * from {{ source('crm', 'appointments') }}
),

renamed as (
    select
        ---------- ids
        appointment_id,
        lead_id,
        agent_id,
        ---------- text
        lower(trim(status)) as status,
        ---------- timestamps (UTC, as loaded)
        scheduled_for as scheduled_at,
        created_at,
        updated_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
