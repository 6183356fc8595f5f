-- 养老服务床位: region x year. Only institutions in operation count. Beds per 1,000 older people =
-- (institution beds + community-facility beds) / population aged 60+ x 1000, on both bases.
with institutions as (
    select extract(year from period) as year, division_code, ownership, beds, nursing_beds, residents
    from {{ ref('stg_registers__institutions') }}
    where status = 'operating'
),

facilities as (
    select extract(year from period) as year, division_code, beds
    from {{ ref('stg_registers__community_facilities') }}
),

institution_totals as (
    select
        a.ancestor_code as division_code, a.ancestor_level as division_level, i.year,
        count(*) as institutions,
        cast(count_if(i.ownership = 'public') as bigint) as institutions_public,
        cast(count_if(i.ownership = 'private') as bigint) as institutions_private,
        cast(count_if(i.ownership = 'public_private') as bigint) as institutions_public_private,
        cast(sum(i.beds) as bigint) as institution_beds,
        cast(sum(case when i.ownership = 'public' then i.beds else 0 end) as bigint) as beds_public,
        cast(sum(case when i.ownership = 'private' then i.beds else 0 end) as bigint) as beds_private,
        cast(sum(case when i.ownership = 'public_private' then i.beds else 0 end) as bigint) as beds_public_private,
        cast(sum(i.nursing_beds) as bigint) as nursing_beds,
        cast(sum(i.residents) as bigint) as residents
    from institutions as i
    inner join {{ ref('int_division_ancestors') }} as a on a.division_code = i.division_code
    group by all
),

facility_totals as (
    select a.ancestor_code as division_code, a.ancestor_level as division_level, f.year,
           count(*) as community_facilities, cast(sum(f.beds) as bigint) as community_beds
    from facilities as f
    inner join {{ ref('int_division_ancestors') }} as a on a.division_code = f.division_code
    group by all
),

older_people as (
    select division_code, division_level, year,
           cast(sum(case when basis = 'hukou' then aged_60_plus end) as bigint) as aged_60_plus_hukou,
           cast(sum(case when basis = 'resident' then aged_60_plus end) as bigint) as aged_60_plus_resident
    from {{ ref('int_population_by_region') }}
    group by all
),

regions as (
    select division_code, division_level, year from institution_totals
    union select division_code, division_level, year from facility_totals
    union select division_code, division_level, year from older_people
)

select
    r.division_code,
    d.division_name,
    r.division_level,
    cast(r.year as bigint) as year,
    coalesce(i.institutions, 0) as institutions,
    coalesce(i.institutions_public, 0) as institutions_public,
    coalesce(i.institutions_private, 0) as institutions_private,
    coalesce(i.institutions_public_private, 0) as institutions_public_private,
    coalesce(i.institution_beds, 0) as institution_beds,
    coalesce(i.beds_public, 0) as beds_public,
    coalesce(i.beds_private, 0) as beds_private,
    coalesce(i.beds_public_private, 0) as beds_public_private,
    coalesce(i.nursing_beds, 0) as nursing_beds,
    cast(i.nursing_beds as double) / nullif(i.institution_beds, 0) as nursing_bed_share,
    coalesce(i.residents, 0) as residents,
    cast(i.residents as double) / nullif(i.institution_beds, 0) as occupancy_rate,
    coalesce(f.community_facilities, 0) as community_facilities,
    coalesce(f.community_beds, 0) as community_beds,
    coalesce(i.institution_beds, 0) + coalesce(f.community_beds, 0) as total_beds,
    o.aged_60_plus_hukou,
    o.aged_60_plus_resident,
    cast(coalesce(i.institution_beds, 0) + coalesce(f.community_beds, 0) as double) * 1000 / nullif(o.aged_60_plus_hukou, 0) as beds_per_1000_aged_60_plus_hukou,
    cast(coalesce(i.institution_beds, 0) + coalesce(f.community_beds, 0) as double) * 1000 / nullif(o.aged_60_plus_resident, 0) as beds_per_1000_aged_60_plus_resident
from regions as r
left join institution_totals as i using (division_code, division_level, year)
left join facility_totals as f using (division_code, division_level, year)
left join older_people as o using (division_code, division_level, year)
left join {{ ref('dim_divisions') }} as d on d.division_code = r.division_code
