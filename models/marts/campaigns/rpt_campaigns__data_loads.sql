-- When each Bison raw table last received data: one row per table with its row count and max(_loaded_at), the
-- moment the loader last wrote one of its rows. The Campaign analytics dashboard shows the latest of them
-- ("Data last loaded"), since Bison syncs hourly (seed 004). Built with the generic macro last_loaded_per_table.
with

loads as (
    {{ last_loaded_per_table('bison', [
        ref('stg_bison__workspaces'),
        ref('stg_bison__campaigns'),
        ref('stg_bison__leads'),
        ref('stg_bison__email_events'),
        ref('stg_bison__pipeline_stats_cache'),
        ref('stg_bison__client_costs'),
    ]) }}
),

final as (
    select
        source_name,
        table_name,
        row_count,
        last_loaded_at
    from loads
)

select * from final
