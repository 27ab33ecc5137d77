{#- Use the configured schema name verbatim (staging, intermediate, marts) instead of dbt's
    default <target_schema>_<custom_schema>, so Metabase and analysts see stable names.
    A write-audit-publish build passes --vars '{build_schema_suffix: __build}' and builds every model
    into the shadow schema <name>__build; orchestration/publishing.py swaps it in once the checks pass.
    ref() inside such a build points at the shadow schemas; the published names never change.
    Snapshots are the exception: they keep the history of what a source overwrote, so they always
    write to their one schema (a shadow snapshot would start empty on every build and lose it). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set schema = target.schema if custom_schema_name is none else custom_schema_name | trim -%}
    {{ schema }}{{ '' if node.resource_type == 'snapshot' else var('build_schema_suffix', '') }}
{%- endmacro %}
