-- One row per landing file the loader recorded (raw_audit.loaded_files): the warehouse's own health that
-- PostgreSQL can honestly tell (D146) - data received, rows added (growth per raw schema), rows rejected and
-- files refused. A file loaded again after a change keeps one ledger row with its latest load.
with

loaded_files as (
    select * from {{ source('audit', 'loaded_files') }}
),

final as (
    select
        landing_root,
        file_path,
        source_table,
        split_part(source_table, '.', 1) as schema_name,
        status,
        rows_in_file,
        inserted,
        updated,
        unchanged,
        rejected,
        loaded_at,
        {{ reporting_date('loaded_at') }} as load_date
    from loaded_files
)

select * from final
