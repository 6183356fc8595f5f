{{ config(materialized="incremental", incremental_strategy="append", database=target.get("database"), pre_hook="{{ delete_build_window() }}") }}
-- One row per person per programme per month on the low-income rolls (低保, 特困, 低保边缘,
-- 刚性支出困难 from the person rosters; 防止返贫监测对象 from the monitoring list), with region.
-- Kept from build to build (in the build file, not the in-memory scratch database): an
-- incremental build reads the month before its first month from here (entering and exiting).
-- (target.get: Spark has no database above its schemas; there every model is on disk anyway.)
with monitored as (
    select
        m.period,
        'prevention' as programme,
        m.person_key,
        cast(null as string) as household_key,
        m.division_code,
        case when left(d.urban_rural_code, 1) = '1' then 'urban' else 'rural' end as urban_rural,
        cast(null as string) as support_mode
    from {{ ref('stg_checks__prevention_monitoring') }} as m
    left join {{ ref('int_divisions_enriched') }} as d on d.division_code = m.division_code
)

select period, programme, person_key, household_key, division_code, urban_rural, support_mode from {{ ref('int_low_income_persons') }}
union all
select * from monitored
