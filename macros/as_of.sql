{#- The moment KPIs are computed relative to: var `as_of` (an ISO timestamp, set through
    LEAD_ANALYTICS_AS_OF) or, when empty, now(). Pin it to reproduce a past day's report. -#}
{% macro as_of_timestamp() -%}
    {%- set as_of = var("as_of", "") -%}
    {%- if as_of -%}('{{ as_of }}'::timestamptz){%- else -%}now(){%- endif -%}
{%- endmacro %}

{#- The as-of moment's calendar date in the reporting time zone. A model that reads the clock only through this
    macro is rebuilt once a day, not every refresh cycle (orchestration/selective.py). -#}
{% macro as_of_date() -%}
    {{ reporting_date(as_of_timestamp()) }}
{%- endmacro %}

{#- The as-of cut: true for a row stamped at or before the as-of moment, so rows stamped later are left out as not
    yet happened. `column` must be a stamp as loaded (a raw timestamptz column, renamed at most): a refresh cycle
    rebuilds a model that reads the clock only through this macro when some upstream raw table holds a stamp the
    moved as-of passed, and keeps it otherwise (orchestration/selective.py, D198). -#}
{% macro as_of_cut(column) -%}
    ({{ column }} <= {{ as_of_timestamp() }})
{%- endmacro %}

{#- The reporting-time-zone calendar date of a timestamptz expression. -#}
{% macro reporting_date(column) -%}
    ({{ to_reporting_tz(column) }})::date
{%- endmacro %}

{#- Hours of the as-of date begun by the as-of moment, the current one included (12:00 local -> 13).
    Real elapsed hours since local midnight, so a daylight-saving change day counts 23 or 25. -#}
{% macro hours_begun_today(as_of_at, as_of_date) -%}
    (floor(extract(epoch from ({{ as_of_at }} - {{ to_reporting_tz_inverse(as_of_date ~ '::timestamp') }})) / 3600)::integer + 1)
{%- endmacro %}
