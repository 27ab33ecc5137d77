with

source as (
    select * from {{ source('omnichannel', 'blast_charges') }}
),

latest as (
    -- guard: the loader already upserts by charge_id; keep the newest version should a duplicate land
    select
        *,
        row_number() over (partition by charge_id order by _loaded_at desc) as version_rank
    from source
),

renamed as (
    select
        ---------- ids
        charge_id,
        blast_id,
        user_id,
        ---------- numerics
        amount,
        charged_messages,
        ---------- timestamps (UTC, as loaded)
        charged_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from latest
    where version_rank = 1
)

select * from renamed
