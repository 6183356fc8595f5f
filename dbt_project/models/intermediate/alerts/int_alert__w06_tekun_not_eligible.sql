{{ config(materialized="view") }}
-- W06 a 特困 person neither 60+, under 16, nor disabled.
select 'W06' as rule_code, 'tekun' as programme, division_code, period, person_key, household_key, person_id_masked,
       concat('特困人员', cast({{ age_years('birth_date', 'reference_date') }} as string), '周岁，且无残疾') as detail
from {{ ref('int_low_income_persons') }}
where programme = 'tekun'
  and {{ age_years('birth_date', 'reference_date') }} between 16 and 59
  and not coalesce(is_disabled, false)
