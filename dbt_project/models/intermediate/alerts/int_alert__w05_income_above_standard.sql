{{ config(materialized="view") }}
-- W05 income per head at or above the standard while in 低保; above local.marginal_income_multiplier
-- times it for 低保边缘.
with family_income as (
    select f.*, coalesce(f.monthly_income_per_capita, f.annual_income / nullif(f.family_size, 0) / 12.0) as income_per_head,
           s.monthly_amount as standard
    from {{ ref('int_alert_families') }} as f
    inner join {{ ref('int_alert_standards') }} as s
        on s.county_code = concat(left(f.division_code, 6), '000000') and s.period = f.period and s.programme = 'dibao' and s.urban_rural = f.urban_rural
)

select 'W05' as rule_code, programme, division_code, period, cast(null as string) as person_key, household_key,
       head_id_masked as person_id_masked,
       concat('家庭月人均收入', {{ money_text('income_per_head') }}, '元，',
              case when programme = 'dibao' then '达到或超过低保标准' else concat('超过低保标准的', cast({{ var('marginal_income_multiplier') }} as string), '倍') end,
              {{ money_text('standard') }}, '元') as detail
from family_income
where (programme = 'dibao' and income_per_head >= standard)
   or (programme = 'marginal' and income_per_head > standard * {{ var('marginal_income_multiplier') }})
