with

source as (
    select * from {{ source('omnichannel', 'blast_charges') }}
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
    from source
)

select * from renamed
