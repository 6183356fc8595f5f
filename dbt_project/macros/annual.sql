{#- The annual tables (models/marts/annual): 年末 = the year's last month held, 全年 = the sum over
    the year's months. A programme with no roster in the whole year gives null (printed —); a region
    without cases in a year that has the roster gives 0. -#}

{% macro annual_years() -%}
    select year, max(period) as year_end, cast(count(*) as bigint) as months_held
    from {{ ref('dim_periods') }}
    where period_type = 'month'
    group by all
{%- endmacro %}

{% macro annual_regions() -%}
    select d.division_code, d.division_name, d.division_level, d.level_rank, d.parent_code, y.year, y.year_end, y.months_held
    from {{ ref('dim_divisions') }} as d
    cross join ({{ annual_years() }}) as y
{%- endmacro %}

{% macro held(flag, expression) -%}
    case when {{ flag }} then coalesce({{ expression }}, 0) end
{%- endmacro %}
