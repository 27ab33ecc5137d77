{#- Display labels of the Web1on1 (seed 003) dimensions, one definition each. Null means the app could not tell,
    and becomes the bucket the seed names ("no device", "no touchpoint", "no inbox"), so it is always a value that
    can be listed and filtered (D40). -#}

{% macro messaging_channel_label(column) -%}
    case {{ column }}
        when 'web' then 'Web'
        when 'whatsapp' then 'WhatsApp'
        when 'facebook' then 'Facebook'
        when 'instagram' then 'Instagram'
        else coalesce(initcap({{ column }}), 'no touchpoint')
    end
{%- endmacro %}

{% macro messaging_device_label(column) -%}
    coalesce(initcap({{ column }}), 'no device')
{%- endmacro %}

{% macro messaging_category_label(column) -%}
    case {{ column }}
        when 'aftersales' then 'Aftersales'
        when 'trade_in' then 'Trade-in'
        else initcap(replace({{ column }}, '_', ' '))
    end
{%- endmacro %}
