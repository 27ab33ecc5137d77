{#- The moment KPIs are computed relative to: var `as_of` (an ISO timestamp, set through
    LEAD_ANALYTICS_AS_OF) or, when empty, now(). Pin it to reproduce a past day's report. -#}
{% macro as_of_timestamp() -%}
    {%- set as_of = var("as_of", "") -%}
    {%- if as_of -%}('{{ as_of }}'::timestamptz){%- else -%}now(){%- endif -%}
{%- endmacro %}

{#- The reporting-time-zone calendar date of a timestamptz expression. -#}
{% macro reporting_date(column) -%}
    ({{ to_reporting_tz(column) }})::date
{%- endmacro %}
