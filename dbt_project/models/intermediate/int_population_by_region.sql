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
    cast(sum(p.total) as bigint) as total,
    cast(sum(p.aged_0_17) as bigint) as aged_0_17,
    cast(sum(p.aged_60_plus) as bigint) as aged_60_plus,
    cast(sum(p.aged_65_plus) as bigint) as aged_65_plus,
    cast(sum(p.aged_75_plus) as bigint) as aged_75_plus,
    cast(sum(p.aged_80_plus) as bigint) as aged_80_plus,
    cast(sum(p.aged_90_plus) as bigint) as aged_90_plus,
    cast(sum(p.aged_100_plus) as bigint) as aged_100_plus
from population as p
inner join {{ ref('int_division_ancestors') }} as a on a.division_code = p.division_code
group by all
