-- Bridge: each division with itself and every ancestor, for rolling facts up the hierarchy.
with d as (select * from {{ ref('int_divisions_enriched') }})

select division_code, division_code as ancestor_code, division_level as ancestor_level from d
union all
select division_code, township_code, 'township' from d where division_level = 'village'
union all
select division_code, county_code, 'county' from d where division_level in ('village', 'township')
union all
select division_code, prefecture_code, 'prefecture' from d where division_level in ('village', 'township', 'county')
union all
select division_code, province_code, 'province' from d where division_level <> 'province'
