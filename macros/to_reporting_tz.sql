{#- The one conversion from stored UTC timestamps (timestamptz) to the reporting time zone
    (var reporting_timezone, America/Chicago by default). Returns a timestamp without time zone
    holding local wall-clock time: use it for "today", day-of-week and hour-of-day logic. -#}
{% macro to_reporting_tz(column) -%}
    ({{ column }} at time zone '{{ var("reporting_timezone") }}')
{%- endmacro %}
