-- 低收入人口动态监测预警 W01-W14 (DOMAIN.md section 5): one row per rule, period and person or
-- household. Thresholds and local options come from config/civstat.yaml through dbt vars.
with periods as (select period, reference_date from {{ ref('dim_periods') }} where period_type = 'month'),

-- a narrow in-memory table already: read it where needed rather than copy it into a CTE
persons as not materialized (select * from {{ ref('int_low_income_persons') }}),

families as (
    select f.period, f.programme, f.household_key, f.head_id_masked, f.division_code, f.urban_rural, f.monthly_amount,
           f.covered_persons, f.family_size, f.monthly_income_per_capita, f.annual_income, f.recognition_date,
           f.last_review_date, pr.reference_date
    from {{ ref('stg_rosters__families') }} as f
    inner join periods as pr on pr.period = f.period
    where f.status = 'active'
),

payments as (
    select period, 'longevity' as programme, person_key, person_id_masked, division_code, birth_date, amount from {{ ref('stg_rosters__longevity_payments') }}
    union all select period, 'disab_living', person_key, person_id_masked, division_code, birth_date, amount from {{ ref('stg_rosters__disab_living_payments') }}
    union all select period, 'disab_care', person_key, person_id_masked, division_code, birth_date, amount from {{ ref('stg_rosters__disab_care_payments') }}
    union all select period, 'orphan', person_key, person_id_masked, division_code, birth_date, amount from {{ ref('stg_rosters__orphan_payments') }}
    union all select period, 'unsupported_child', person_key, person_id_masked, division_code, birth_date, amount from {{ ref('stg_rosters__unsupported_child_payments') }}
),

on_rolls as (
    select period, programme, person_key, person_id_masked, household_key, division_code from persons
    union all
    select period, programme, person_key, person_id_masked, cast(null as string), division_code from payments
),

standards as (
    select county_code, period, programme, urban_rural, monthly_amount
    from {{ ref('int_standards_monthly') }}
    where subcategory = ''
),

deaths as (
    select person_key, min(death_date) as death_date from {{ ref('stg_checks__deaths') }} group by all
),

w01 as (
    select 'W01' as rule_code, r.programme, r.division_code, r.period, r.person_key, r.household_key, r.person_id_masked,
           concat('死亡日期', cast(d.death_date as string), '，', cast(r.period as string), '所在月份仍在', r.programme, '名册中') as detail
    from on_rolls as r
    inner join deaths as d on d.person_key = r.person_key
    where r.period > d.death_date
),

w02 as (
    select 'W02', 'dibao', a.division_code, a.period, a.person_key, a.household_key, a.person_id_masked,
           '同一月份同时在低保和特困供养名册中'
    from persons as a
    inner join persons as b on b.period = a.period and b.person_key = a.person_key and b.programme = 'tekun'
    where a.programme = 'dibao'
),

-- one cheap pass finds the doubled memberships; the details are computed for those few only
doubled as (
    select period, programme, person_key from persons group by all having count(*) > 1
),

w03 as (
    select 'W03', p.programme, min(p.division_code), p.period, p.person_key, min(p.household_key), min(p.person_id_masked),
           concat('同一项目中出现', cast(count(*) as string), '次（', cast(count(distinct p.household_key) as string), '个家庭）')
    from persons as p
    semi join doubled as d on d.period = p.period and d.programme = p.programme and d.person_key = p.person_key
    group by p.period, p.programme, p.person_key
),

w04 as (
    select 'W04', 'dibao', f.division_code, f.period, cast(null as string), f.household_key, f.head_id_masked,
           concat('户月保障金额', cast(f.monthly_amount as string), '元，超过保障人口', cast(f.covered_persons as string),
                  '人×标准', cast(s.monthly_amount as string), '元的', cast(cast(100 + {{ var('dibao_amount_tolerance') }} * 100 as int) as string), '%')
    from families as f
    inner join standards as s
        on s.county_code = concat(left(f.division_code, 6), '000000') and s.period = f.period and s.programme = 'dibao' and s.urban_rural = f.urban_rural
    where f.programme = 'dibao'
      and f.monthly_amount > f.covered_persons * s.monthly_amount * (1 + {{ var('dibao_amount_tolerance') }})
),

family_income as (
    select f.*, coalesce(f.monthly_income_per_capita, f.annual_income / nullif(f.family_size, 0) / 12.0) as income_per_head,
           s.monthly_amount as standard
    from families as f
    inner join standards as s
        on s.county_code = concat(left(f.division_code, 6), '000000') and s.period = f.period and s.programme = 'dibao' and s.urban_rural = f.urban_rural
),

w05 as (
    select 'W05', programme, division_code, period, cast(null as string), household_key, head_id_masked,
           concat('家庭月人均收入', cast(round(income_per_head, 2) as string), '元，',
                  case when programme = 'dibao' then '达到或超过低保标准' else concat('超过低保标准的', cast({{ var('marginal_income_multiplier') }} as string), '倍') end,
                  cast(standard as string), '元')
    from family_income
    where (programme = 'dibao' and income_per_head >= standard)
       or (programme = 'marginal' and income_per_head > standard * {{ var('marginal_income_multiplier') }})
),

w06 as (
    select 'W06', 'tekun', division_code, period, person_key, household_key, person_id_masked,
           concat('特困人员', cast({{ age_years('birth_date', 'reference_date') }} as string), '周岁，且无残疾')
    from persons
    where programme = 'tekun'
      and {{ age_years('birth_date', 'reference_date') }} between 16 and 59
      and not coalesce(is_disabled, false)
),

w07 as (
    select 'W07', p.programme, p.division_code, p.period, p.person_key, cast(null as string), p.person_id_masked,
           concat('已满', cast({{ age_years('p.birth_date', 'pr.reference_date') }} as string), '周岁仍在发放')
    from payments as p
    inner join periods as pr on pr.period = p.period
    where p.programme in ('orphan', 'unsupported_child') and {{ age_years('p.birth_date', 'pr.reference_date') }} >= 18
),

w08 as (
    select 'W08', 'longevity', p.division_code, p.period, p.person_key, cast(null as string), l.person_id_masked,
           case when p.subcategory = '未达起始年龄' then '未达到高龄津贴起始年龄'
                else concat('按', p.subcategory, '档应发', cast(p.standard_amount as string), '元，实发', cast(p.amount as string), '元') end
    from {{ ref('int_subsidy_payments') }} as p
    inner join {{ ref('stg_rosters__longevity_payments') }} as l on l.period = p.period and l.person_key = p.person_key
    where p.programme = 'longevity' and (p.subcategory = '未达起始年龄' or p.amount <> p.standard_amount)
),

w09 as (
    select 'W09', 'disab_living', d.division_code, d.period, d.person_key, cast(null as string), d.person_id_masked,
           '不在低保、特困家庭中，领取困难残疾人生活补贴'
    from {{ ref('stg_rosters__disab_living_payments') }} as d
    where not exists (
        select 1 from persons as l
        where l.period = d.period and l.person_key = d.person_key
          and l.programme in ({{ "'" ~ var('disab_living_household_types') | join("', '") ~ "'" }})
    )
    union all
    select 'W09', 'disab_care', division_code, period, person_key, cast(null as string), person_id_masked,
           concat('残疾等级', cast(disability_grade as string), '级（', coalesce(disability_category, '未知类别'), '），不符合护理补贴条件')
    from {{ ref('stg_rosters__disab_care_payments') }}
    where coalesce(disability_grade, 9) > 2
      {% if var('disab_care_extend_grade_3_4_intellectual_mental') %}
      and not (disability_grade in (3, 4) and disability_category in ('intellectual', 'mental'))
      {% endif %}
),

w10 as (
    select 'W10', 'rigid', division_code, period, cast(null as string), household_key, head_id_masked,
           concat('认定日期', cast(recognition_date as string), '，已超过', cast({{ var('rigid_recognition_valid_months') }} as string), '个月')
    from families
    where programme = 'rigid'
      and recognition_date < cast({{ dbt.dateadd('month', -var('rigid_recognition_valid_months'), 'reference_date') }} as date)
),

able_households as (
    select distinct period, household_key from persons where programme = 'dibao' and work_ability = 'able'
),

w11 as (
    select 'W11', 'dibao', f.division_code, f.period, cast(null as string), f.household_key, f.head_id_masked,
           concat('最近复核日期', cast(f.last_review_date as string), '，',
                  case when a.household_key is not null then '有劳动能力成员，超过{{ var("review_interval_months_able_member") }}个月未复核'
                       else '超过{{ var("review_interval_months") }}个月未复核' end)
    from families as f
    left join able_households as a on a.period = f.period and a.household_key = f.household_key
    where f.programme = 'dibao'
      and f.last_review_date < cast(case when a.household_key is not null
            then {{ dbt.dateadd('month', -var('review_interval_months_able_member'), 'f.reference_date') }}
            else {{ dbt.dateadd('month', -var('review_interval_months'), 'f.reference_date') }} end as date)
),

w12 as (
    select 'W12', 'prevention', m.division_code, m.period, m.person_key, cast(null as string), m.person_id_masked,
           concat('年人均纯收入', cast(m.annual_income_per_capita as string), '元，低于低保标准，未纳入救助')
    from {{ ref('stg_checks__prevention_monitoring') }} as m
    inner join {{ ref('int_prevention_under_standard') }} as u on u.period = m.period and u.person_key = m.person_key
    where not exists (select 1 from persons as l where l.period = m.period and l.person_key = m.person_key)
),

registrations as (
    select period, person_key, '车辆登记' as list_name from {{ ref('stg_checks__vehicle_owners') }}
    union all select period, person_key, '工商登记' from {{ ref('stg_checks__business_owners') }}
    union all select period, person_key, '财政供养人员' from {{ ref('stg_checks__public_employees') }}
),

w13 as (
    select 'W13', 'dibao', p.division_code, p.period, p.person_key, p.household_key, p.person_id_masked,
           concat('低保家庭成员出现在', min(r.list_name), '比对名单中（需核实）')
    from persons as p
    inner join registrations as r on r.period = p.period and r.person_key = p.person_key
    where p.programme = 'dibao'
    group by all
),

w14 as (
    {% if var('w14_enabled') %}
    select 'W14', 'dibao', u.county_code, u.period, cast(null as string), cast(null as string), cast(null as string),
           concat('农村低保标准', cast(r.monthly_amount as string), '元/月，低于城市标准', cast(u.monthly_amount as string), '元/月的',
                  cast(cast({{ var('w14_rural_urban_min_ratio') }} * 100 as int) as string), '%')
    from standards as u
    inner join standards as r on r.county_code = u.county_code and r.period = u.period and r.programme = 'dibao' and r.urban_rural = 'rural'
    where u.programme = 'dibao' and u.urban_rural = 'urban' and r.monthly_amount < u.monthly_amount * {{ var('w14_rural_urban_min_ratio') }}
    {% else %}
    select cast(null as string), cast(null as string), cast(null as string), cast(null as date), cast(null as string),
           cast(null as string), cast(null as string), cast(null as string)
    where false
    {% endif %}
),

alerts as (
    select * from w01 union all select * from w02 union all select * from w03 union all select * from w04
    union all select * from w05 union all select * from w06 union all select * from w07 union all select * from w08
    union all select * from w09 union all select * from w10 union all select * from w11 union all select * from w12
    union all select * from w13 union all select * from w14
)

select
    a.rule_code,
    r.severity,
    a.programme,
    a.division_code,
    a.period,
    a.person_key,
    a.household_key,
    a.person_id_masked as id_masked,
    a.detail,
    r.rule_zh
from alerts as a
inner join {{ ref('warning_rules') }} as r on r.rule_code = a.rule_code
