{{ config(materialized="view") }}
-- W01 paid after death: on any roll (low-income or a subsidy) in a month after the death date.
with on_rolls as (
    select period, programme, person_key, person_id_masked, household_key, division_code from {{ ref('int_low_income_persons') }}
    union all
    select period, programme, person_key, person_id_masked, cast(null as string), division_code from {{ ref('int_alert_payments') }}
),

deaths as (
    select person_key, min(death_date) as death_date from {{ ref('stg_checks__deaths') }} group by all
)

select 'W01' as rule_code, r.programme, r.division_code, r.period, r.person_key, r.household_key, r.person_id_masked,
       concat('死亡日期', cast(d.death_date as string), '，', cast(r.period as string), '所在月份仍在', r.programme, '名册中') as detail
from on_rolls as r
inner join deaths as d on d.person_key = r.person_key
where r.period > d.death_date
