with

source as (
    select * from {{ source('crm', 'appointments') }}
),

latest as (
    -- guard: the loader already upserts by appointment_id; keep the newest version should a duplicate land
    select
        *,
        row_number() over (partition by appointment_id order by updated_at desc, _loaded_at desc) as version_rank
    from source
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
    from latest
    where version_rank = 1
)

select * from renamed
