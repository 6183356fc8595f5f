{{ config(materialized="view") }}
-- W07 孤儿 / 事实无人抚养儿童 aged 18 or over still paid.
select 'W07' as rule_code, p.programme, p.division_code, p.period, p.person_key, cast(null as string) as household_key, p.person_id_masked,
       concat('已满', cast({{ age_years('p.birth_date', 'pr.reference_date') }} as string), '周岁仍在发放') as detail
from {{ ref('int_alert_payments') }} as p
inner join {{ ref('dim_periods') }} as pr on pr.period = p.period and pr.period_type = 'month'
where p.programme in ('orphan', 'unsupported_child') and {{ age_years('p.birth_date', 'pr.reference_date') }} >= 18
