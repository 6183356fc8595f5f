-- The standard in force for every county, month, programme, urban/rural and subcategory, per
-- person per month: the most specific region's standard (county before prefecture before
-- province) with the latest effective month not after the month.
with standards as (
    select
        division_code,
        programme,
        urban_rural,
        -- the subcategory as the payments name it (int_subsidy_payments), however the table wrote it:
        -- a 高龄 tier by its lower bound (100周岁及以上, 100岁以上 -> the tier from 100), a 孤儿 care mode
        -- (社会散居 -> 散居, 机构养育 -> 集中养育), a 临时救助 type (急难型救助 -> 急难型)
        case
            -- (regexp_extract and [0-9]: the same in DuckDB and Spark SQL, whose string literals take backslashes)
            when programme = 'longevity' and regexp_extract(subcategory, '^ *([0-9]+)', 1) <> ''
                then {{ longevity_tier("cast(regexp_extract(subcategory, '^ *([0-9]+)', 1) as integer)") }}
            when programme = 'orphan' and subcategory like '%散%' then '散居'
            when programme = 'orphan' and (subcategory like '%集中%' or subcategory like '%机构%') then '集中养育'
            when programme = 'temporary' and subcategory like '%急难%' then '急难型'
            when programme = 'temporary' and subcategory like '%支出%' then '支出型'
            else coalesce(subcategory, '')
        end as subcategory,
        effective_month,
        case when unit = 'per_year' then amount / 12.0 else amount end as monthly_amount
    from {{ ref('stg_registers__standards') }}
),

counties as (
    select division_code as county_code from {{ ref('int_divisions_enriched') }} where division_level = 'county'
),

months as (select period from {{ ref('dim_periods') }} where period_type = 'month'),

depth as (
    select division_code, case division_level when 'county' then 3 when 'prefecture' then 2 when 'province' then 1 else 0 end as depth
    from {{ ref('int_divisions_enriched') }}
),

candidates as (
    select
        c.county_code,
        m.period,
        s.programme,
        u.urban_rural,
        s.subcategory,
        s.monthly_amount,
        row_number() over (
            partition by c.county_code, m.period, s.programme, u.urban_rural, s.subcategory
            order by d.depth desc, s.effective_month desc
        ) as pick
    from counties as c
    inner join {{ ref('int_division_ancestors') }} as a on a.division_code = c.county_code
    inner join standards as s on s.division_code = a.ancestor_code
    inner join depth as d on d.division_code = s.division_code
    cross join months as m
    cross join (select 'urban' as urban_rural union all select 'rural') as u
    where s.effective_month <= m.period and s.urban_rural in (u.urban_rural, 'all')
)

select county_code, period, programme, urban_rural, subcategory, monthly_amount
from candidates
where pick = 1
