-- Population of every region (any level) by year and basis, summed from the finest rows given.
with population as (
    select
        extract(year from period) as year,
        division_code,
        basis,
        total, aged_0_17, aged_60_plus, aged_65_plus, aged_75_plus, aged_80_plus, aged_90_plus, aged_100_plus
    from {{ ref('stg_registers__population') }}
)

select
    a.ancestor_code as division_code,
    a.ancestor_level as division_level,
    p.year,
    p.basis,
    sum(p.total) as total,
    sum(p.aged_0_17) as aged_0_17,
    sum(p.aged_60_plus) as aged_60_plus,
    sum(p.aged_65_plus) as aged_65_plus,
    sum(p.aged_75_plus) as aged_75_plus,
    sum(p.aged_80_plus) as aged_80_plus,
    sum(p.aged_90_plus) as aged_90_plus,
    sum(p.aged_100_plus) as aged_100_plus
from population as p
inner join {{ ref('int_division_ancestors') }} as a on a.division_code = p.division_code
group by all
