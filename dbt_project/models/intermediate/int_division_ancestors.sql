-- Bridge: each division with itself and every ancestor, for rolling facts up the hierarchy.
-- A county or city bureau's register holds only its own subtree: an ancestor that is not in the
-- register (the province above a city bureau) is left out, so roll-ups stop at the top it has.
with d as (select * from {{ ref('int_divisions_enriched') }}),

ancestors as (
    select division_code, township_code as ancestor_code, 'township' as ancestor_level from d where division_level = 'village'
    union all
    select division_code, county_code, 'county' from d where division_level in ('village', 'township')
    union all
    select division_code, prefecture_code, 'prefecture' from d where division_level in ('village', 'township', 'county')
    union all
    select division_code, province_code, 'province' from d where division_level <> 'province'
)

select division_code, division_code as ancestor_code, division_level as ancestor_level from d
union all
select a.division_code, a.ancestor_code, a.ancestor_level
from ancestors as a
inner join d as listed on listed.division_code = a.ancestor_code
