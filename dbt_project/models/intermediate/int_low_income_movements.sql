-- Persons entering (on the rolls this month, not the month before) and exiting (the reverse) each
-- programme, attributed to the region they are in (entering) or were in (exiting). The first month
-- of a programme's data has no previous month, so nothing there counts as entering (nor anything in
-- its last month as exiting). Months are filtered before the anti-joins, and rows are grouped only
-- after them (a person listed twice in a month, W03, moves once), so the cost follows the months
-- that can have movements. An incremental build computes its own months, reading the month
-- before them from the memberships the previous builds kept.
with memberships as (
    select period, programme, person_key, division_code, urban_rural from {{ ref('int_low_income_memberships') }}
    where {{ in_build_window_or_month_before('period') }}
),

bounds as (  -- over every month held
    select programme, min(period) as first_period, max(period) as last_period from {{ ref('int_low_income_memberships') }} group by all
),

entering as (
    select cur.period, cur.programme, min(cur.division_code) as division_code, min_by(cur.urban_rural, cur.division_code) as urban_rural,
           'entering' as movement, cur.person_key
    from memberships as cur
    inner join bounds as b on b.programme = cur.programme and cur.period > b.first_period
    where {{ in_build_window('cur.period') }}
      and not exists (
        select 1 from memberships as prev
        where prev.programme = cur.programme
          and prev.person_key = cur.person_key
          and prev.period = cast({{ dbt.dateadd('month', -1, 'cur.period') }} as date)
    )
    group by cur.period, cur.programme, cur.person_key
),

exiting as (
    select cast({{ dbt.dateadd('month', 1, 'prev.period') }} as date) as period, prev.programme,
           min(prev.division_code) as division_code, min_by(prev.urban_rural, prev.division_code) as urban_rural,
           'exiting' as movement, prev.person_key
    from memberships as prev
    inner join bounds as b on b.programme = prev.programme and prev.period < b.last_period
    where not exists (
        select 1 from memberships as nxt
        where nxt.programme = prev.programme
          and nxt.person_key = prev.person_key
          and nxt.period = cast({{ dbt.dateadd('month', 1, 'prev.period') }} as date)
    )
    group by prev.period, prev.programme, prev.person_key
)

select * from entering
union all
select * from exiting
