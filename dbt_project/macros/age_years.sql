{#- Whole years between a birth date and a reference date (portable: DuckDB and Spark). -#}
{% macro age_years(birth_date, reference_date) -%}
    (extract(year from {{ reference_date }}) - extract(year from {{ birth_date }})
     - case when extract(month from {{ reference_date }}) * 100 + extract(day from {{ reference_date }})
                 < extract(month from {{ birth_date }}) * 100 + extract(day from {{ birth_date }}) then 1 else 0 end)
{%- endmacro %}
