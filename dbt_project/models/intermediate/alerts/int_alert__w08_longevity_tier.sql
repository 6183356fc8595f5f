{{ config(materialized="view") }}
-- W08 高龄津贴 tier does not match the age in the paid month (local.longevity_tiers).
select 'W08' as rule_code, 'longevity' as programme, p.division_code, p.period, p.person_key, cast(null as string) as household_key,
       l.person_id_masked,
       case when p.subcategory = '未达起始年龄' then '未达到高龄津贴起始年龄'
            else concat('按', p.subcategory, '档应发', {{ money_text('p.standard_amount') }}, '元，实发', {{ money_text('p.amount') }}, '元') end as detail
from {{ ref('int_subsidy_payments') }} as p
inner join {{ ref('stg_rosters__longevity_payments') }} as l on l.period = p.period and l.person_key = p.person_key
where p.programme = 'longevity' and (p.subcategory = '未达起始年龄' or p.amount <> p.standard_amount)
