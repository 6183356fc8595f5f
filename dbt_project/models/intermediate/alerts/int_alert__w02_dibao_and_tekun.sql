{{ config(materialized="view") }}
-- W02 both 低保 and 特困 in the same month (mutually exclusive).
select 'W02' as rule_code, 'dibao' as programme, a.division_code, a.period, a.person_key, a.household_key, a.person_id_masked,
       '同一月份同时在低保和特困供养名册中' as detail
from {{ ref('int_low_income_persons') }} as a
inner join {{ ref('int_low_income_persons') }} as b on b.period = a.period and b.person_key = a.person_key and b.programme = 'tekun'
where a.programme = 'dibao'
