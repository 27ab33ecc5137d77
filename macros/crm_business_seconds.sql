{#- Business seconds between two instants (timestamptz) for a CRM location: the seconds inside the location's
    opening hours (seed crm_business_hours, less seed crm_holidays) in its own time zone, DST-correct. Reads the
    per-location running clock int_crm__business_days: clock(end) - clock(start), where clock(t) = open seconds of
    the location's dates before t's local date + the open seconds of t's own date already elapsed at t.
    Null when an instant is null or outside the shared calendar. `timezone_col`: the location's IANA zone when
    the caller has it (saves a look-up per row); otherwise read from stg_crm__locations.
    Usage: {{ crm_business_seconds('leads.created_at', 'touch.occurred_at', 'leads.location_id') }} -#}
{% macro crm_business_seconds(start_col, end_col, location_id_col, timezone_col=none) -%}
    ({{ crm_business_clock(end_col, location_id_col, timezone_col) }}
        - {{ crm_business_clock(start_col, location_id_col, timezone_col) }})
{%- endmacro %}

{#- The location's business clock at an instant: open seconds since the start of the shared calendar. -#}
{% macro crm_business_clock(instant, location_id_col, timezone_col=none) -%}
    {%- set zone = timezone_col if timezone_col else
        "(select zones.timezone from " ~ ref('stg_crm__locations') ~ " as zones where zones.location_id = "
        ~ location_id_col ~ ")" -%}
    (select
        business_day.open_seconds_before
        + coalesce(greatest(0, least(extract(epoch from ({{ instant }}) - business_day.opens_at),
                                     business_day.open_seconds)), 0)
     from {{ ref('int_crm__business_days') }} as business_day
     where business_day.location_id = {{ location_id_col }}
       and business_day.local_date = (({{ instant }}) at time zone {{ zone }})::date)
{%- endmacro %}
