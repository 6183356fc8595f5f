{{ config(materialized="view") }}
-- W04 household 低保 amount above covered persons x standard, beyond local.dibao_amount_tolerance.
select 'W04' as rule_code, 'dibao' as programme, f.division_code, f.period, cast(null as string) as person_key, f.household_key,
       f.head_id_masked as person_id_masked,
       concat('户月保障金额', {{ money_text('f.monthly_amount') }}, '元，超过保障人口', cast(f.covered_persons as string),
              '人×标准', {{ money_text('s.monthly_amount') }}, '元的', cast(cast(round(100 + {{ var('dibao_amount_tolerance') }} * 100) as int) as string), '%') as detail
from {{ ref('int_alert_families') }} as f
inner join {{ ref('int_alert_standards') }} as s
    on s.county_code = concat(left(f.division_code, 6), '000000') and s.period = f.period and s.programme = 'dibao' and s.urban_rural = f.urban_rural
where f.programme = 'dibao'
  and f.monthly_amount > f.covered_persons * s.monthly_amount * (1 + {{ var('dibao_amount_tolerance') }})
