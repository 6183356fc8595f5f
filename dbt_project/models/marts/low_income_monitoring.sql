-- 低收入人口动态监测: region x month x programme x urban/rural, at every level of the hierarchy.
-- Counts add up: a region's figures are the sums of its children's. Kept from build to build: an
-- incremental build rewrites its months only (macros/build_window.sql).
{{ config(materialized="incremental", incremental_strategy="append", pre_hook="{{ delete_build_window() }}") }}
with households_with_persons as (
    select distinct period, programme, household_key
    from {{ ref('int_low_income_memberships') }}
    where {{ in_build_window('period') }}
),

-- a family counts as a household when at least one member is on the rolls that month; a family
-- whose person rows were all quarantined (bad ID ...) counts apart, its amount still paid
families as (
    select f.period, f.programme, f.division_code, f.urban_rural,
           count(h.household_key) as households,
           count(*) - count(h.household_key) as households_without_persons,
           sum(f.monthly_amount) as amount_paid
    from {{ ref('stg_rosters__families') }} as f
    left join households_with_persons as h
        on h.period = f.period and h.programme = f.programme and h.household_key = f.household_key
    where f.status = 'active'
    group by all
),

persons as (
    select period, programme, division_code, urban_rural, count(*) as persons,
           count_if(support_mode = 'centralised') as persons_centralised,
           count_if(support_mode = 'dispersed') as persons_dispersed
    from {{ ref('int_low_income_memberships') }}
    where {{ in_build_window('period') }}
    group by all
),

movements as (
    select period, programme, division_code, urban_rural,
           count_if(movement = 'entering') as persons_entering,
           count_if(movement = 'exiting') as persons_exiting
    from {{ ref('int_low_income_movements') }}
    group by all
),

first_months as (  -- over every month held (a programme none of whose members was ever on the rolls has none)
    select programme, min(period) as first_period from {{ ref('int_low_income_memberships') }} group by all
),

keys as (
    select period, programme, division_code, urban_rural from families
    union select period, programme, division_code, urban_rural from persons
    union select period, programme, division_code, urban_rural from movements
),

village_level as (
    select
        k.period, k.programme, k.division_code, k.urban_rural,
        case when k.programme = 'prevention' then null else coalesce(f.households, 0) end as households,
        case when k.programme = 'prevention' then null else coalesce(f.households_without_persons, 0) end as households_without_persons,
        coalesce(p.persons, 0) as persons,
        case when k.programme = 'tekun' then coalesce(p.persons_centralised, 0) end as persons_centralised,
        case when k.programme = 'tekun' then coalesce(p.persons_dispersed, 0) end as persons_dispersed,
        case when k.period > fm.first_period then coalesce(m.persons_entering, 0) end as persons_entering,
        case when k.period > fm.first_period then coalesce(m.persons_exiting, 0) end as persons_exiting,
        f.amount_paid
    from keys as k
    left join first_months as fm on fm.programme = k.programme  -- never inner: its families would be lost
    left join families as f
        on f.period = k.period and f.programme = k.programme and f.division_code = k.division_code and f.urban_rural = k.urban_rural
    left join persons as p
        on p.period = k.period and p.programme = k.programme and p.division_code = k.division_code and p.urban_rural = k.urban_rural
    left join movements as m
        on m.period = k.period and m.programme = k.programme and m.division_code = k.division_code and m.urban_rural = k.urban_rural
),

rolled as (
    select
        a.ancestor_code as division_code,
        a.ancestor_level as division_level,
        v.period, v.programme, v.urban_rural,
        cast(sum(v.households) as bigint) as households,
        cast(sum(v.households_without_persons) as bigint) as households_without_persons,
        cast(sum(v.persons) as bigint) as persons,
        cast(sum(v.persons_centralised) as bigint) as persons_centralised,
        cast(sum(v.persons_dispersed) as bigint) as persons_dispersed,
        cast(sum(v.persons_entering) as bigint) as persons_entering,
        cast(sum(v.persons_exiting) as bigint) as persons_exiting,
        sum(v.amount_paid) as amount_paid
    from village_level as v
    inner join {{ ref('int_division_ancestors') }} as a on a.division_code = v.division_code
    group by all
),

population as (
    select division_code, year,
           cast(sum(case when basis = 'hukou' then total end) as bigint) as population_hukou,
           cast(sum(case when basis = 'resident' then total end) as bigint) as population_resident
    from {{ ref('int_population_by_region') }}
    group by all
),

standards as (
    select county_code, period, programme, urban_rural, monthly_amount
    from {{ ref('int_standards_monthly') }}
    where subcategory = ''
)

select
    r.division_code,
    d.division_name,
    r.division_level,
    r.period,
    r.programme,
    r.urban_rural,
    r.households,
    r.households_without_persons,
    r.persons,
    r.persons_centralised,
    r.persons_dispersed,
    r.persons_entering,
    r.persons_exiting,
    r.amount_paid,
    r.amount_paid / nullif(r.persons, 0) as amount_per_person,
    s.monthly_amount as standard_monthly,
    cast(r.persons as double) * 1000 / nullif(pop.population_hukou, 0) as persons_per_1000_hukou,
    cast(r.persons as double) * 1000 / nullif(pop.population_resident, 0) as persons_per_1000_resident
from rolled as r
left join {{ ref('dim_divisions') }} as d on d.division_code = r.division_code
left join population as pop on pop.division_code = r.division_code and pop.year = extract(year from r.period)
left join standards as s
    on r.division_level in ('county', 'township', 'village')
    and s.county_code = d.county_code
    and s.period = r.period
    and s.urban_rural = r.urban_rural
    and s.programme = case when r.programme = 'tekun' then 'tekun' when r.programme = 'prevention' then 'none' else 'dibao' end
