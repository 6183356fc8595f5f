{{ config(materialized="view") }}
-- W12 a 防止返贫监测对象 under the 低保 standard and in no programme (应纳未纳).
select 'W12' as rule_code, 'prevention' as programme, m.division_code, m.period, m.person_key, cast(null as string) as household_key,
       m.person_id_masked,
       concat('年人均纯收入', {{ money_text('m.annual_income_per_capita') }}, '元，低于低保标准，未纳入救助') as detail
from {{ ref('stg_checks__prevention_monitoring') }} as m
inner join {{ ref('int_prevention_under_standard') }} as u on u.period = m.period and u.person_key = m.person_key
where not exists (select 1 from {{ ref('int_low_income_persons') }} as l where l.period = m.period and l.person_key = m.person_key)
