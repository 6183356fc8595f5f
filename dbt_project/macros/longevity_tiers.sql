{#- 高龄津贴 tiers come from var('longevity_tiers') (config/civstat.yaml, local.longevity_tiers):
    lower bounds in years. A tier is labelled "80-89周岁", the last one "100周岁以上". -#}

{% macro longevity_tier_label(low) -%}
    {%- set tiers = var('longevity_tiers') | sort -%}
    {%- set i = tiers.index(low) -%}
    {{ low }}{% if i + 1 < tiers | length %}-{{ tiers[i + 1] - 1 }}周岁{% else %}周岁以上{% endif %}
{%- endmacro %}

{% macro longevity_tier(age_column) -%}
    case
    {%- for low in var('longevity_tiers') | sort | reverse %}
        when {{ age_column }} >= {{ low }} then '{{ longevity_tier_label(low) }}'
    {%- endfor %}
        else '未达起始年龄'
    end
{%- endmacro %}

{% macro population_in_tier(low) -%}
    {#- the population register's columns for the tier starting at ``low`` (null when a bound has no column) -#}
    {%- set band = {60: 'aged_60_plus', 65: 'aged_65_plus', 75: 'aged_75_plus', 80: 'aged_80_plus', 90: 'aged_90_plus', 100: 'aged_100_plus'} -%}
    {%- set tiers = var('longevity_tiers') | sort -%}
    {%- set i = tiers.index(low) -%}
    {%- if low not in band -%} cast(null as bigint)
    {%- elif i + 1 == tiers | length -%} {{ band[low] }}
    {%- elif tiers[i + 1] in band -%} {{ band[low] }} - {{ band[tiers[i + 1]] }}
    {%- else -%} cast(null as bigint)
    {%- endif -%}
{%- endmacro %}
