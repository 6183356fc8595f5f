{{ config(materialized="view") }}
-- W03 the same person twice in one programme (two households or two regions). One cheap pass
-- finds the doubled memberships; the details are computed for those few only.
with doubled as (
    select period, programme, person_key from {{ ref('int_low_income_persons') }} group by all having count(*) > 1
)

select 'W03' as rule_code, p.programme, min(p.division_code) as division_code, p.period, p.person_key,
       min(p.household_key) as household_key, min(p.person_id_masked) as person_id_masked,
       concat('同一项目中出现', cast(count(*) as string), '次（', cast(count(distinct p.household_key) as string), '个家庭）') as detail
from {{ ref('int_low_income_persons') }} as p
semi join doubled as d on d.period = p.period and d.programme = p.programme and d.person_key = p.person_key
group by p.period, p.programme, p.person_key
