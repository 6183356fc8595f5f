-- Recipients, amounts and payments above or below the standard, rolled up to every region.
with payments as (select * from {{ ref('int_subsidy_payments') }}),

rolled as (
    select
        a.ancestor_code as division_code, a.ancestor_level as division_level, w.period, w.programme, w.subcategory,
        count(*) as recipients,
        sum(w.amount) as amount,
        max(w.standard_amount) as standard_amount,
        case when count(w.standard_amount) > 0 then count_if(w.amount > w.standard_amount) end as paid_above_standard,
        case when count(w.standard_amount) > 0 then count_if(w.amount < w.standard_amount) end as paid_below_standard
    from payments as w
    inner join {{ ref('int_division_ancestors') }} as a on a.division_code = w.division_code
    group by all
),

-- 低保 coverage of 防止返贫监测对象 whose income is under the standard: recipients are those in 低保
prevention_in_dibao as (
    select a.ancestor_code as division_code, a.ancestor_level as division_level, u.period,
           'prevention_dibao' as programme, '' as subcategory, count(distinct d.person_key) as recipients
    from {{ ref('int_prevention_under_standard') }} as u
    inner join {{ ref('int_division_ancestors') }} as a on a.division_code = u.division_code
    left join (select distinct period, person_key from {{ ref('stg_rosters__persons') }} where programme = 'dibao') as d
        on d.period = u.period and d.person_key = u.person_key
    group by all
)

select * from rolled
union all
select division_code, division_level, period, programme, subcategory, recipients,
       cast(null as double), cast(null as double), cast(null as bigint), cast(null as bigint)
from prevention_in_dibao
