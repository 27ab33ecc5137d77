{#- The one conversion from stored UTC timestamps (timestamptz) to the reporting time zone
    (var reporting_timezone, America/Chicago by default). Returns a timestamp without time zone
    holding local wall-clock time: use it for "today", day-of-week and hour-of-day logic. -#}
{% macro to_reporting_tz(column) -%}
    ({{ column }} at time zone '{{ var("reporting_timezone") }}')
{%- endmacro %}

{#- The inverse: a local wall-clock timestamp (without time zone) in the reporting time zone,
    as the UTC instant (timestamptz) it denotes. -#}
{% macro to_reporting_tz_inverse(local_timestamp) -%}
    (({{ local_timestamp }}) at time zone '{{ var("reporting_timezone") }}')
{%- endmacro %}
