{{ config(materialized="view") }}
-- Every subsidy payment with its subcategory (高龄 tier by age at the month's end, 孤儿 care
-- mode, 临时救助 type) and the standard for it.
with periods as (select period, reference_date from {{ ref('dim_periods') }} where period_type = 'month'),

longevity as (
    select
        l.period, l.division_code, l.person_key, l.amount,
        {{ age_years('l.birth_date', 'p.reference_date') }} as age
    from {{ ref('stg_rosters__longevity_payments') }} as l
    inner join periods as p on p.period = l.period
),

payments as (
    select period, division_code, person_key, 'longevity' as programme,
        {{ longevity_tier('age') }} as subcategory,
        amount
    from longevity
    union all
    select period, division_code, person_key, 'disab_living', '', amount from {{ ref('stg_rosters__disab_living_payments') }}
    union all
    select period, division_code, person_key, 'disab_care', '', amount from {{ ref('stg_rosters__disab_care_payments') }}
    union all
    select period, division_code, person_key, 'orphan', case care_mode when 'institutional' then '集中养育' else '散居' end, amount
    from {{ ref('stg_rosters__orphan_payments') }}
    union all
    select period, division_code, person_key, 'unsupported_child', '', amount from {{ ref('stg_rosters__unsupported_child_payments') }}
    union all
    select period, division_code, person_key, 'temporary', case assistance_type when 'emergency' then '急难型' else '支出型' end, amount
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
)

select * from with_standard
