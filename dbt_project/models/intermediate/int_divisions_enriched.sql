-- Every division once (the latest year it is listed), with its level and the code of each ancestor.
with listed as (
    select
        division_code,
        division_name,
        urban_rural_code,
        row_number() over (partition by division_code order by period desc) as latest
    from {{ ref('stg_registers__divisions') }}
)

select
    division_code,
    division_name,
    urban_rural_code,
    case
        when substring(division_code, 10, 3) <> '000' then 'village'
        when substring(division_code, 7, 3) <> '000' then 'township'
        when substring(division_code, 5, 2) <> '00' then 'county'
        when substring(division_code, 3, 2) <> '00' then 'prefecture'
        else 'province'
    end as division_level,
    concat(left(division_code, 2), '0000000000') as province_code,
    concat(left(division_code, 4), '00000000') as prefecture_code,
    concat(left(division_code, 6), '000000') as county_code,
    concat(left(division_code, 9), '000') as township_code
from listed
where latest = 1
