{#- A KPI value as the text a mixed-unit table shows (the executive scorecard: ROI in %, savings in $, time in
    hours on one table, so the value cannot be one numeric column with one format). NULL stays NULL. -#}
{% macro format_kpi_value(value, unit) -%}
    case {{ unit }}
        when 'percent' then to_char({{ value }} * 100, 'FM999,999,990.0') || ' %'
        when 'USD' then case when {{ value }} < 0 then '-' else '' end
            || '$' || to_char(abs(round({{ value }})), 'FM999,999,999,990')
        when 'hours' then to_char({{ value }}, 'FM999,999,990.0') || ' h'
        when 'deals' then to_char({{ value }}, 'FM999,999,990')
        else rtrim(to_char({{ value }}, 'FM999,999,990.99'), '.')
    end
{%- endmacro %}
