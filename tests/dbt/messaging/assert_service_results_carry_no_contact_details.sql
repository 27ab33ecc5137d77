-- D35 (seed 003): a result the app typed "service" should carry no contact details; when it does, the chat counts
-- as a lead (contact details decide), so the app's typing and the captured fields disagree. Warns with the results,
-- for product to look at the typing; it never blocks a build.
{{ config(severity='warn') }}

with

results as (
    select * from {{ ref('stg_web1on1__results') }}
),

final as (
    select
        result_id,
        conversation_id,
        result_type,
        category
    from results
    where
        result_type = 'service'
        and (nullif(trim(fields ->> 'email'), '') is not null or nullif(trim(fields ->> 'phone'), '') is not null)
)

select * from final
