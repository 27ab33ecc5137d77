{#- One row per relation: how many rows it holds and when the loader last wrote one of them (max(_loaded_at)).
    Pass the staging models of one source; a domain's "data last loaded" mart is this macro over its
    source's staging models, and its dashboards read the max. -#}
{% macro last_loaded_per_table(source_name, relations) -%}
    {%- for relation in relations -%}
        {%- if not loop.first %}
            union all
        {%- endif %}
        select
            '{{ source_name }}'::text as source_name,
            '{{ relation.identifier | replace("stg_" ~ source_name ~ "__", "") }}'::text as table_name,
            count(*)::bigint as row_count,
            max(_loaded_at) as last_loaded_at
        from {{ relation }}
    {%- endfor %}
{%- endmacro %}
