-- Recipients, amounts and payments above or below the standard, rolled up to every region.
with by_place as (
    -- one row per place, month, programme, subcategory before rolling up (far fewer rows to join)
    select
        division_code, period, programme, subcategory,
        count(*) as recipients,
        sum(amount) as amount,
        max(standard_amount) as standard_amount,
        count(standard_amount) as with_standard,
        count_if(amount > standard_amount) as paid_above_standard,
        count_if(amount < standard_amount) as paid_below_standard
    from {{ ref('int_subsidy_payments') }}
    group by all
),

rolled as (
    select
        a.ancestor_code as division_code, a.ancestor_level as division_level, w.period, w.programme, w.subcategory,
        cast(sum(w.recipients) as bigint) as recipients,
        sum(w.amount) as amount,
        max(w.standard_amount) as standard_amount,
        cast(case when sum(w.with_standard) > 0 then sum(w.paid_above_standard) end as bigint) as paid_above_standard,
        cast(case when sum(w.with_standard) > 0 then sum(w.paid_below_standard) end as bigint) as paid_below_standard
    from by_place as w
    inner join {{ ref('int_division_ancestors') }} as a on a.division_code = w.division_code
    group by all
),

-- 低保 coverage of 防止返贫监测对象 whose income is under the standard: recipients are those in 低保
under_in_dibao as (
    select u.period, u.person_key
    from {{ ref('int_prevention_under_standard') }} as u
    semi join {{ ref('int_low_income_persons') }} as d
        on d.period = u.period and d.person_key = u.person_key and d.programme = 'dibao'
),

prevention_in_dibao as (
    select a.ancestor_code as division_code, a.ancestor_level as division_level, u.period,
           'prevention_dibao' as programme, '' as subcategory, count(distinct d.person_key) as recipients
    from {{ ref('int_prevention_under_standard') }} as u
    inner join {{ ref('int_division_ancestors') }} as a on a.division_code = u.division_code
    left join under_in_dibao as d on d.period = u.period and d.person_key = u.person_key
    group by all
)

select * from rolled
union all
select division_code, division_level, period, programme, subcategory, recipients,
       cast(null as double), cast(null as double), cast(null as bigint), cast(null as bigint)
from prevention_in_dibao
