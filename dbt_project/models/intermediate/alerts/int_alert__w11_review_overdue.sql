{{ config(materialized="view") }}
-- W11 a 低保 household not reviewed for local.review_interval_months (review_interval_months_able_member
-- when a member is able to work).
with able_households as (
    select distinct period, household_key from {{ ref('int_low_income_persons') }} where programme = 'dibao' and work_ability = 'able'
)

select 'W11' as rule_code, 'dibao' as programme, f.division_code, f.period, cast(null as string) as person_key, f.household_key,
       f.head_id_masked as person_id_masked,
       concat('最近复核日期', cast(f.last_review_date as string), '，',
              case when a.household_key is not null then '有劳动能力成员，超过{{ var("review_interval_months_able_member") }}个月未复核'
                   else '超过{{ var("review_interval_months") }}个月未复核' end) as detail
from {{ ref('int_alert_families') }} as f
left join able_households as a on a.period = f.period and a.household_key = f.household_key
where f.programme = 'dibao'
  and f.last_review_date < cast(case when a.household_key is not null
        then {{ dbt.dateadd('month', -var('review_interval_months_able_member'), 'f.reference_date') }}
        else {{ dbt.dateadd('month', -var('review_interval_months'), 'f.reference_date') }} end as date)
