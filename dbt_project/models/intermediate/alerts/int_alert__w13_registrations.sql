{{ config(materialized="view") }}
-- W13 a 低保 household member on the vehicle, business or public-employee list (needs verification).
with registrations as (
    select period, person_key, '车辆登记' as list_name from {{ ref('stg_checks__vehicle_owners') }}
    union all select period, person_key, '工商登记' from {{ ref('stg_checks__business_owners') }}
    union all select period, person_key, '财政供养人员' from {{ ref('stg_checks__public_employees') }}
)

select 'W13' as rule_code, 'dibao' as programme, p.division_code, p.period, p.person_key, p.household_key, p.person_id_masked,
       concat('低保家庭成员出现在', min(r.list_name), '比对名单中（需核实）') as detail
from {{ ref('int_low_income_persons') }} as p
inner join registrations as r on r.period = p.period and r.person_key = p.person_key
where p.programme = 'dibao'
group by all
