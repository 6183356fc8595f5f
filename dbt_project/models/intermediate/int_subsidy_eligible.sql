-- The eligible population where a register defines it, per region, month, programme, subcategory.
with months as (select period, year from {{ ref('dim_periods') }} where period_type = 'month'),

-- 高龄津贴 tiers from the population register (basis from var population_basis)
longevity_by_year as (
    {%- for low in var('longevity_tiers') | sort %}
    select division_code, year, 'longevity' as programme, '{{ longevity_tier_label(low) }}' as subcategory,
        {{ population_in_tier(low) }} as eligible
    from {{ ref('int_population_by_region') }}
    where basis = '{{ var("population_basis") }}'
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

longevity as (
    select l.division_code, m.period, l.programme, l.subcategory, l.eligible
    from longevity_by_year as l
    inner join months as m on m.year = l.year
),

-- 困难残疾人生活补贴: disabled members of qualifying low-income households on the rolls
disabled_low_income as (
    select a.ancestor_code as division_code, p.period, 'disab_living' as programme, '' as subcategory, count(*) as eligible
    from {{ ref('int_low_income_persons') }} as p
    inner join {{ ref('int_division_ancestors') }} as a on a.division_code = p.division_code
    where p.is_disabled and p.programme in ({{ "'" ~ var('disab_living_household_types') | join("', '") ~ "'" }})
    group by all
),

prevention as (
    select a.ancestor_code as division_code, u.period, 'prevention_dibao' as programme, '' as subcategory,
           count(distinct u.person_key) as eligible
    from {{ ref('int_prevention_under_standard') }} as u
    inner join {{ ref('int_division_ancestors') }} as a on a.division_code = u.division_code
    group by all
)

select * from longevity
union all
select * from disabled_low_income
union all
select * from prevention
