{{ config(materialized="view") }}
-- W09 两项补贴: the living subsidy outside a qualifying household (local.disab_living_household_types);
-- the care subsidy without grade 1-2 (local.disab_care_extend_grade_3_4_intellectual_mental).
select 'W09' as rule_code, 'disab_living' as programme, d.division_code, d.period, d.person_key, cast(null as string) as household_key,
       d.person_id_masked, '不在低保、特困家庭中，领取困难残疾人生活补贴' as detail
from {{ ref('stg_rosters__disab_living_payments') }} as d
where not exists (
    select 1 from {{ ref('int_low_income_persons') }} as l
    where l.period = d.period and l.person_key = d.person_key
      and l.programme in ({{ "'" ~ var('disab_living_household_types') | join("', '") ~ "'" }})
)
union all
select 'W09', 'disab_care', division_code, period, person_key, cast(null as string), person_id_masked,
       -- every part of a concat is non-null: DuckDB's concat skips a null, Spark's returns null
       concat('残疾等级', case when disability_grade is null then '不详' else concat(cast(disability_grade as string), '级') end,
              '（', coalesce(disability_category, '未知类别'), '），不符合护理补贴条件')
from {{ ref('stg_rosters__disab_care_payments') }}
where coalesce(disability_grade, 9) > 2
  {% if var('disab_care_extend_grade_3_4_intellectual_mental') %}
  and not (disability_grade in (3, 4) and disability_category in ('intellectual', 'mental'))
  {% endif %}
