-- 补贴覆盖: region x month x programme x subcategory. Recipients, amount, the standard for their
-- tier, recipients paid above or below it, and coverage = recipients / eligible population where a
-- register defines the eligible population (see the model's description for each programme).
{%- set tiers = var('longevity_tiers') | sort %}
{%- set band = {60: 'aged_60_plus', 65: 'aged_65_plus', 75: 'aged_75_plus', 80: 'aged_80_plus', 90: 'aged_90_plus', 100: 'aged_100_plus'} %}
with periods as (select period, reference_date from {{ ref('dim_periods') }} where period_type = 'month'),

longevity as (
    select
        l.period, l.division_code, l.amount,
        {{ age_years('l.birth_date', 'p.reference_date') }} as age
    from {{ ref('stg_rosters__longevity_payments') }} as l
    inner join periods as p on p.period = l.period
),

payments as (
    select period, division_code, 'longevity' as programme,
        case
        {%- for low in tiers | reverse %}
            {%- set i = tiers.index(low) %}
            when age >= {{ low }} then '{{ low }}{% if i + 1 < tiers | length %}-{{ tiers[i + 1] - 1 }}周岁{% else %}周岁以上{% endif %}'
        {%- endfor %}
            else '未达起始年龄'
        end as subcategory,
        amount
    from longevity
    union all
    select period, division_code, 'disab_living', '', amount from {{ ref('stg_rosters__disab_living_payments') }}
    union all
    select period, division_code, 'disab_care', '', amount from {{ ref('stg_rosters__disab_care_payments') }}
    union all
    select period, division_code, 'orphan', case care_mode when 'institutional' then '集中养育' else '散居' end, amount
    from {{ ref('stg_rosters__orphan_payments') }}
    union all
    select period, division_code, 'unsupported_child', '', amount from {{ ref('stg_rosters__unsupported_child_payments') }}
    union all
    select period, division_code, 'temporary', case assistance_type when 'emergency' then '急难型' else '支出型' end, amount
    from {{ ref('stg_rosters__temporary_cases') }}
),

with_standard as (
    select pay.*, s.monthly_amount as standard_amount
    from payments as pay
    left join {{ ref('int_standards_monthly') }} as s
        on s.county_code = concat(left(pay.division_code, 6), '000000')
        and s.period = pay.period
        and s.programme = pay.programme
        and s.subcategory = pay.subcategory
        and s.urban_rural = 'urban'
),

recipients as (
    select
        a.ancestor_code as division_code, a.ancestor_level as division_level, w.period, w.programme, w.subcategory,
        count(*) as recipients,
        sum(w.amount) as amount,
        max(w.standard_amount) as standard_amount,
        case when count(w.standard_amount) > 0 then count_if(w.amount > w.standard_amount) end as paid_above_standard,
        case when count(w.standard_amount) > 0 then count_if(w.amount < w.standard_amount) end as paid_below_standard
    from with_standard as w
    inner join {{ ref('int_division_ancestors') }} as a on a.division_code = w.division_code
    group by all
),

-- eligible: 高龄津贴 tiers from the population register (户籍 or 常住 per var population_basis)
longevity_eligible as (
    {%- for low in tiers %}
    {%- set i = tiers.index(low) %}
    select division_code, year, 'longevity' as programme,
        '{{ low }}{% if i + 1 < tiers | length %}-{{ tiers[i + 1] - 1 }}周岁{% else %}周岁以上{% endif %}' as subcategory,
        {% if low in band %}{{ band[low] }}{% if i + 1 < tiers | length %}{% if tiers[i + 1] in band %} - {{ band[tiers[i + 1]] }}{% else %} * null{% endif %}{% endif %}{% else %}cast(null as bigint){% endif %} as eligible
    from {{ ref('int_population_by_region') }}
    where basis = '{{ var("population_basis") }}'
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

-- eligible: 困难残疾人生活补贴 = disabled members of qualifying low-income households on the rolls
disabled_low_income as (
    select a.ancestor_code as division_code, p.period, count(*) as eligible
    from {{ ref('stg_rosters__persons') }} as p
    inner join {{ ref('int_division_ancestors') }} as a on a.division_code = p.division_code
    where p.is_disabled and p.programme in ({{ "'" ~ var('disab_living_household_types', ['dibao', 'tekun']) | join("', '") ~ "'" }})
    group by all
),

-- 低保 coverage of 防止返贫监测对象 with income under the standard
prevention_under_standard as (
    select m.period, m.division_code, m.person_key
    from {{ ref('stg_checks__prevention_monitoring') }} as m
    inner join {{ ref('int_divisions_enriched') }} as d on d.division_code = m.division_code
    inner join {{ ref('int_standards_monthly') }} as s
        on s.county_code = d.county_code and s.period = m.period and s.programme = 'dibao' and s.subcategory = ''
        and s.urban_rural = case when left(d.urban_rural_code, 1) = '1' then 'urban' else 'rural' end
    where m.annual_income_per_capita < s.monthly_amount * 12
),

prevention_coverage as (
    select
        a.ancestor_code as division_code, a.ancestor_level as division_level, u.period,
        'prevention_dibao' as programme, '' as subcategory,
        count(distinct d.person_key) as recipients,
        count(distinct u.person_key) as eligible
    from prevention_under_standard as u
    inner join {{ ref('int_division_ancestors') }} as a on a.division_code = u.division_code
    left join (select distinct period, person_key from {{ ref('stg_rosters__persons') }} where programme = 'dibao') as d
        on d.period = u.period and d.person_key = u.person_key
    group by all
)

select
    r.division_code,
    dd.division_name,
    r.division_level,
    r.period,
    r.programme,
    r.subcategory,
    case
        when r.programme = 'longevity' then le.eligible
        when r.programme = 'disab_living' then dl.eligible
    end as eligible,
    r.recipients,
    r.recipients * 1.0 / nullif(case when r.programme = 'longevity' then le.eligible when r.programme = 'disab_living' then dl.eligible end, 0) as coverage_rate,
    r.amount,
    r.amount / nullif(r.recipients, 0) as amount_per_recipient,
    r.standard_amount,
    r.paid_above_standard,
    r.paid_below_standard
from recipients as r
left join {{ ref('dim_divisions') }} as dd on dd.division_code = r.division_code
left join longevity_eligible as le
    on le.division_code = r.division_code and le.year = extract(year from r.period) and le.subcategory = r.subcategory and r.programme = 'longevity'
left join disabled_low_income as dl
    on dl.division_code = r.division_code and dl.period = r.period and r.programme = 'disab_living'
union all
select
    pc.division_code, dd.division_name, pc.division_level, pc.period, pc.programme, pc.subcategory,
    pc.eligible, pc.recipients, pc.recipients * 1.0 / nullif(pc.eligible, 0),
    cast(null as double), cast(null as double), cast(null as double), cast(null as bigint), cast(null as bigint)
from prevention_coverage as pc
left join {{ ref('dim_divisions') }} as dd on dd.division_code = pc.division_code
