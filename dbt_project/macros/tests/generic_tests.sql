{#- Generic tests written here because dbt's package hub is not reachable (no dbt_utils). -#}

{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as occurrences
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}

{% test between(model, column_name, min_value=none, max_value=none) %}
{#- null is allowed (an undefined ratio is null, never 0) -#}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  and (
    false
    {% if min_value is not none %} or {{ column_name }} < {{ min_value }} {% endif %}
    {% if max_value is not none %} or {{ column_name }} > {{ max_value }} {% endif %}
  )
{% endtest %}

{% test rolls_up(model, measures, group_by, parent_levels=none) %}
{#- Nothing is lost rolling up: every region's additive measures are at least the sum over its
    children (village -> township -> county -> prefecture -> province), per the other grouping
    columns. At least, not equal: a fact may be registered at the region itself (an institution
    listed by county only, a population table by county), so a parent = its own facts + its
    children's. Children without the measure (null) are not compared. ``parent_levels`` limits the
    check to parents at those levels. -#}
with parents as (
    select m.*, d.parent_code
    from {{ model }} as m
    inner join {{ ref('dim_divisions') }} as d on d.division_code = m.division_code
),
children as (
    select parent_code as division_code, {{ group_by | join(', ') }},
        {% for m in measures %}sum({{ m }}) as {{ m }}{% if not loop.last %}, {% endif %}{% endfor %}
    from parents
    where parent_code is not null
    {% if parent_levels %}
      and parent_code in (select division_code from {{ ref('dim_divisions') }} where division_level in ('{{ parent_levels | join("', '") }}'))
    {% endif %}
    group by parent_code, {{ group_by | join(', ') }}
)
select c.division_code, {% for g in group_by %}c.{{ g }}, {% endfor %}
    {% for m in measures %}c.{{ m }} as children_{{ m }}, p.{{ m }} as parent_{{ m }}{% if not loop.last %}, {% endif %}{% endfor %}
from children as c
left join {{ model }} as p
    on p.division_code = c.division_code
    {% for g in group_by %}and p.{{ g }} = c.{{ g }} {% endfor %}
where
    {% for m in measures %}
    (c.{{ m }} is not null and coalesce(p.{{ m }}, 0) < c.{{ m }} - 0.005){% if not loop.last %} or{% endif %}
    {% endfor %}
{% endtest %}
