{#- A phone number as a join/match key: digits only; an 11-digit number starting with 1 (US country
    code) loses the 1 so US numbers are 10 digits; null when fewer than 7 digits remain (or none). -#}
{% macro normalize_phone(column) -%}
    {%- set digits = "regexp_replace(" ~ column ~ ", '[^0-9]', '', 'g')" -%}
    case
        when length({{ digits }}) < 7 then null
        when length({{ digits }}) = 11 and left({{ digits }}, 1) = '1' then right({{ digits }}, 10)
        else {{ digits }}
    end
{%- endmacro %}
