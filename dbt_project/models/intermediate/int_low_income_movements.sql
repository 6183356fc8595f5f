-- Persons entering (on the rolls this month, not the month before) and exiting (the reverse) each
-- programme, attributed to the region they are in (entering) or were in (exiting). The first month
-- of a programme's data has no previous month, so nothing there counts as entering.
with presence as (
    select period, programme, person_key, min(division_code) as division_code, min(urban_rural) as urban_rural
    from {{ ref('int_low_income_memberships') }}
    group by all
),

bounds as (
    select programme, min(period) as first_period, max(period) as last_period from presence group by all
),

entering as (
    select cur.period, cur.programme, cur.division_code, cur.urban_rural, 'entering' as movement, cur.person_key
    from presence as cur
    inner join bounds as b on b.programme = cur.programme and cur.period > b.first_period
    left join presence as prev
        on prev.programme = cur.programme
        and prev.person_key = cur.person_key
        and prev.period = cast({{ dbt.dateadd('month', -1, 'cur.period') }} as date)
    where prev.person_key is null
),

exiting as (
    select
        cast({{ dbt.dateadd('month', 1, 'prev.period') }} as date) as period,
        prev.programme, prev.division_code, prev.urban_rural, 'exiting' as movement, prev.person_key
    from presence as prev
    inner join bounds as b on b.programme = prev.programme and prev.period < b.last_period
    left join presence as nxt
        on nxt.programme = prev.programme
        and nxt.person_key = prev.person_key
        and nxt.period = cast({{ dbt.dateadd('month', 1, 'prev.period') }} as date)
    where nxt.person_key is null
)

select * from entering
union all
select * from exiting
