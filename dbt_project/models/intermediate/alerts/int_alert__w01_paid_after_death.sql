{{ config(materialized="view") }}
-- W01 paid after death: on any roll (low-income or a subsidy) in a month after the death date, as
-- known that month: from the death lists of that month and the months before (a death listed in
-- March warns from March on; the months before stay as they were warned). The lists are read
-- whole (history: true in the registry), also in an incremental build.
with on_rolls as (
    select period, programme, person_key, person_id_masked, household_key, division_code from {{ ref('int_low_income_persons') }}
    union all
    select period, programme, person_key, person_id_masked, cast(null as string), division_code from {{ ref('int_alert_payments') }}
),

deaths as (
    select m.period, d.person_key, min(d.death_date) as death_date
    from (select distinct period from on_rolls) as m
    inner join {{ ref('stg_checks__deaths') }} as d on d.period <= m.period
    group by all
)

select 'W01' as rule_code, r.programme, r.division_code, r.period, r.person_key, r.household_key, r.person_id_masked,
       concat('死亡日期', cast(d.death_date as string), '，仍在', r.programme, '名册中') as detail
from on_rolls as r
inner join deaths as d on d.period = r.period and d.person_key = r.person_key
where r.period > d.death_date
