{#- Personal data in the marts (D152): a join key is a SHA-256 hash of the normalised value, a value a card shows
    is masked; clear text lives only in the admin-only schema marts_restricted. -#}
{% macro contact_key(column) -%}
    encode(sha256(convert_to({{ column }}, 'UTF8')), 'hex')
{%- endmacro %}

{#- jo@example.com -> j***@example.com (first character, the domain); null stays null. -#}
{% macro mask_email(column) -%}
    case
        when {{ column }} is null then null
        else left({{ column }}, 1) || '***@' || split_part({{ column }}, '@', 2)
    end
{%- endmacro %}

{#- 3125550100 -> ***0100 (the last four digits). -#}
{% macro mask_phone(column) -%}
    case when {{ column }} is null then null else '***' || right({{ column }}, 4) end
{%- endmacro %}
