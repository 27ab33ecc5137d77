with

source as (
    select * from {{ source('bison', 'campaigns') }}
),

renamed as (
    select
        ---------- ids
        id as campaign_id,
        workspace_id,
        ---------- text
        name,
        lower(trim(status)) as status,
        ---------- booleans
        track_opens,
        ---------- timestamps (UTC, as loaded)
        created_at,
        updated_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
