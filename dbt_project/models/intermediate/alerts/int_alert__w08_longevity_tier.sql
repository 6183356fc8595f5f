{{ config(materialized="view") }}
-- W08 高龄津贴 tier does not match the age in the paid month (local.longevity_tiers): under the
-- minimum age; the tier written on the list (补贴档次, read by its first number: 80-89周岁, 90～99岁,
-- 100周岁以上) is not the age's; or, where the standards register has the tier's amount, the amount
-- paid is not it.
with payments as (
    select p.*, l.person_id_masked, l.tier as tier_written,
        try_cast(regexp_extract(l.tier, '\d+') as integer) as tier_written_low
    from {{ ref('int_subsidy_payments') }} as p
    inner join {{ ref('stg_rosters__longevity_payments') }} as l on l.period = p.period and l.person_key = p.person_key
    where p.programme = 'longevity'
),

judged as (
    select *,
        case when tier_written_low is not null then {{ longevity_tier('tier_written_low') }} end as tier_listed
    from payments
)

select 'W08' as rule_code, 'longevity' as programme, division_code, period, person_key, cast(null as string) as household_key,
       person_id_masked,
       case when subcategory = '未达起始年龄' then '未达到高龄津贴起始年龄'
            when tier_listed <> subcategory then concat('按年龄应为', subcategory, '档，名册为', tier_written)
            else concat('按', subcategory, '档应发', {{ money_text('standard_amount') }}, '元，实发', {{ money_text('amount') }}, '元') end as detail
from judged
where subcategory = '未达起始年龄' or tier_listed <> subcategory or amount <> standard_amount
