with

source as (
    select * from {{ source('bison', 'workspaces') }}
),

renamed as (
    select
        ---------- ids
        id as workspace_id,
        ---------- text
        name,
        ---------- numerics
        pipeline_renewal_day,
        ---------- timestamps (UTC, as loaded)
        created_at,
        updated_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
