-- The division hierarchy: village -> township -> county -> prefecture -> province, with names.
with d as (select * from {{ ref('int_divisions_enriched') }})

select
    d.division_code,
    d.division_name,
    d.division_level,
    case d.division_level when 'province' then 1 when 'prefecture' then 2 when 'county' then 3 when 'township' then 4 else 5 end as level_rank,
    d.urban_rural_code,
    -- null at the top of the register (a city bureau's register has no province row)
    parent.division_code as parent_code,
    d.province_code,
    prov.division_name as province_name,
    case when d.division_level <> 'province' then d.prefecture_code end as prefecture_code,
    pref.division_name as prefecture_name,
    case when d.division_level in ('county', 'township', 'village') then d.county_code end as county_code,
    cty.division_name as county_name,
    case when d.division_level in ('township', 'village') then d.township_code end as township_code,
    town.division_name as township_name
from d
left join d as prov on prov.division_code = d.province_code
left join d as pref on pref.division_code = d.prefecture_code and d.division_level <> 'province'
left join d as cty on cty.division_code = d.county_code and d.division_level in ('county', 'township', 'village')
left join d as town on town.division_code = d.township_code and d.division_level in ('township', 'village')
left join d as parent on parent.division_code = case d.division_level
        when 'village' then d.township_code
        when 'township' then d.county_code
        when 'county' then d.prefecture_code
        when 'prefecture' then d.province_code
    end
