{{ config(materialized="view") }}
-- W08 高龄津贴 tier does not match the age in the paid month (local.longevity_tiers): under the
-- minimum age; the tier written on the list (补贴档次, read by its first number: 80-89周岁, 90～99岁,
-- 100周岁以上) is not the age's; or, on a list with no tier written, the amount paid is another tier's
-- standard and not the age's. An amount that is no tier's standard (a back payment, a deduction) is a
-- payment-accuracy matter (subsidy_coverage's paid above/below standard), not a tier one.
with payments as (
    select p.*, l.person_id_masked, l.tier as tier_written,
        -- [0-9], group 0: the same on DuckDB and Spark (whose string literals take a backslash as an escape)
        try_cast(regexp_extract(l.tier, '[0-9]+', 0) as integer) as tier_written_low
    from {{ ref('int_subsidy_payments') }} as p
    inner join {{ ref('stg_rosters__longevity_payments') }} as l on l.period = p.period and l.person_key = p.person_key
    where p.programme = 'longevity'
),

paid_as_another_tier as (  -- the tier, other than the age's, whose standard is the amount paid
    select p.period, p.person_key, p.division_code, p.amount, min(s.subcategory) as tier_paid
    from payments as p
    inner join {{ ref('int_standards_monthly') }} as s
        on s.county_code = concat(left(p.division_code, 6), '000000')
        and s.period = p.period
        and s.programme = 'longevity'
        and s.urban_rural = 'urban'
        and s.monthly_amount = p.amount
        and s.subcategory <> p.subcategory
    group by p.period, p.person_key, p.division_code, p.amount
),

judged as (
    select p.*, t.tier_paid,
        case when p.tier_written_low is not null then {{ longevity_tier('p.tier_written_low') }} end as tier_listed
    from payments as p
    left join paid_as_another_tier as t
        on t.period = p.period and t.person_key = p.person_key and t.division_code = p.division_code and t.amount = p.amount
)

select 'W08' as rule_code, 'longevity' as programme, division_code, period, person_key, cast(null as string) as household_key,
       person_id_masked,
       case when subcategory = '未达起始年龄' then '未达到高龄津贴起始年龄'
            when tier_listed <> subcategory then concat('按年龄应为', subcategory, '档，名册为', tier_written)
            else concat('按年龄应为', subcategory, '档（应发', {{ money_text('standard_amount') }}, '元），实发',
                        {{ money_text('amount') }}, '元，为', tier_paid, '档标准') end as detail
from judged
where subcategory = '未达起始年龄'
    or tier_listed <> subcategory
    or (tier_listed is null and tier_paid is not null and coalesce(amount <> standard_amount, true))
