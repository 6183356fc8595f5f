-- Population of every region (any level) by year and basis. A region's figure is its own row when
-- the register gives one; else the sum of the highest rows given below it. A register that lists a
-- county's own row above its townships' (a subtotal) is not counted twice.
with population as (
    select
        extract(year from period) as year,
        division_code,
        basis,
        total, aged_0_17, aged_60_plus, aged_65_plus, aged_75_plus, aged_80_plus, aged_90_plus, aged_100_plus
    from {{ ref('stg_registers__population') }}
),

pairs as (  -- each row with each region it lies in (itself included)
    select a.ancestor_code as region, a.ancestor_level as region_level, p.*
    from population as p
    inner join {{ ref('int_division_ancestors') }} as a on a.division_code = p.division_code
),

covered as (  -- (region, row) where another row given between them already holds the row
    select distinct pr.region, pr.division_code, pr.year, pr.basis
    from pairs as pr
    inner join {{ ref('int_division_ancestors') }} as above
        on above.division_code = pr.division_code and above.ancestor_code <> pr.division_code
    inner join population as given
        on given.division_code = above.ancestor_code and given.year = pr.year and given.basis = pr.basis
    inner join {{ ref('int_division_ancestors') }} as within
        on within.division_code = above.ancestor_code and within.ancestor_code = pr.region
)

select
    p.region as division_code,
    p.region_level as division_level,
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
from pairs as p
anti join covered as c on c.region = p.region and c.division_code = p.division_code and c.year = p.year and c.basis = p.basis
group by all
