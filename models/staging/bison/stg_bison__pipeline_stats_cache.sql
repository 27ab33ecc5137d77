with

source as (
    select * from {{ source('bison', 'pipeline_stats_cache') }}
),

renamed as (
    select
        ---------- key (the grain)
        workspace_id,
        pipeline_month,
        ---------- numerics
        uploaded,
        emails_sent,
        replied,
        interested,
        ---------- timestamps (UTC, as loaded)
        updated_at,
        ---------- loader metadata (_source_line dropped)
        _source_file,
        _loaded_at
    from source
)

select * from renamed
