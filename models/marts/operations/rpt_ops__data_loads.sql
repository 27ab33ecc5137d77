-- When the automation engine's logs last reached the warehouse: one row per raw table the operations pages read
-- (D49: the operational cards read data no older than the last load, and each page says how fresh it is).
with

loads as (
    {{ last_loaded_per_table('crm', [
        ref('stg_crm__workflow_events'),
        ref('stg_crm__health_checks'),
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
