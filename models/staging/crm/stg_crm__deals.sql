with

source as (
    select * from {{ source('crm', 'deals') }}
),

latest as (
    -- guard: the loader already upserts by deal_id; keep the newest version should a duplicate land
    select
        *,
        row_number() over (partition by deal_id order by updated_at desc, _loaded_at desc) as version_rank
    from source
),

renamed as (
    select
        ---------- ids
        deal_id,
        lead_id,
        agent_id,
        ---------- text
        lower(trim(status)) as status,
        nullif(lower(trim(attribution_type)), '') as attribution_type,
        ---------- numerics
        value,
        ---------- timestamps (UTC, as loaded)
        created_at,
        closed_at,
        updated_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from latest
    where version_rank = 1
)

select * from renamed
