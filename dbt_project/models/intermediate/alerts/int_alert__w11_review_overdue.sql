{{ config(materialized="view") }}
-- W11 a 低保 household not reviewed for local.review_interval_months (review_interval_months_able_member
-- when a member is able to work). A household none of whose members is on the rolls this month (their rows
-- in quarantine, or no member roster) is held to the longer interval, and the detail says that whether a
-- member can work is not known.
with members as (
    select period, household_key, bool_or(work_ability = 'able') as has_able_member
    from {{ ref('int_low_income_persons') }}
    where programme = 'dibao'
    group by period, household_key
),

families as (
    select f.*, m.household_key is null as members_unknown, coalesce(m.has_able_member, false) as has_able_member
    from {{ ref('int_alert_families') }} as f
    left join members as m on m.period = f.period and m.household_key = f.household_key
    where f.programme = 'dibao'
)

select 'W11' as rule_code, 'dibao' as programme, division_code, period, cast(null as string) as person_key, household_key,
       head_id_masked as person_id_masked,
       concat('最近复核日期', cast(last_review_date as string), '，',
              case when has_able_member then '有劳动能力成员，超过{{ var("review_interval_months_able_member") }}个月未复核'
                   when members_unknown then '本月无家庭成员清洗入库（成员记录被隔离或未报送），有无劳动能力成员不明；超过{{ var("review_interval_months") }}个月未复核'
                   else '超过{{ var("review_interval_months") }}个月未复核' end) as detail
from families
where last_review_date < cast(case when has_able_member
        then {{ dbt.dateadd('month', -var('review_interval_months_able_member'), 'reference_date') }}
        else {{ dbt.dateadd('month', -var('review_interval_months'), 'reference_date') }} end as date)
