{#- The range of the shared calendar (dim_calendar, dim_calendar_hour): dbt vars calendar_start and
    calendar_end (dates). Events outside it cannot be grouped by calendar fields. -#}
{% macro calendar_start() -%}
    '{{ var("calendar_start", "2020-01-01") }}'::date
{%- endmacro %}

{% macro calendar_end() -%}
    '{{ var("calendar_end", "2030-12-31") }}'::date
{%- endmacro %}
