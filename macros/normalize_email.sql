{#- An e-mail address as a join/match key: lower(trim(email)), null when empty or only spaces. -#}
{% macro normalize_email(column) -%}
    nullif(lower(trim({{ column }})), '')
{%- endmacro %}
