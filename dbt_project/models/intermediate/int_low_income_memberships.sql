-- One row per person per programme per month on the low-income rolls (低保, 特困, 低保边缘,
-- 刚性支出困难 from the person rosters; 防止返贫监测对象 from the monitoring list), with region.
with active_families as (
    select period, programme, household_key, division_code, urban_rural
    from {{ ref('stg_rosters__families') }}
    where status = 'active'
),

-- a person row names its own region; only rows without one look it up in their household's row
persons_with_region as (
    select period, programme, person_key, household_key, division_code, urban_rural
    from {{ ref('stg_rosters__persons') }}
    where division_code is not null and urban_rural is not null
),

persons_from_household as (
    select
        p.period,
        p.programme,
        p.person_key,
        p.household_key,
        coalesce(p.division_code, f.division_code) as division_code,
        coalesce(p.urban_rural, f.urban_rural) as urban_rural
    from {{ ref('stg_rosters__persons') }} as p
    left join active_families as f
        on f.period = p.period and f.programme = p.programme and f.household_key = p.household_key
    where p.division_code is null or p.urban_rural is null
),

monitored as (
    select
        m.period,
        'prevention' as programme,
        m.person_key,
        cast(null as string) as household_key,
        m.division_code,
        case when left(d.urban_rural_code, 1) = '1' then 'urban' else 'rural' end as urban_rural
    from {{ ref('stg_checks__prevention_monitoring') }} as m
    left join {{ ref('int_divisions_enriched') }} as d on d.division_code = m.division_code
)

select * from persons_with_region
union all
select * from persons_from_household
union all
select * from monitored
