{{ config(materialized="view") }}
-- The monthly standard of each county, programme and urban/rural (no sub-tier).
select county_code, period, programme, urban_rural, monthly_amount
from {{ ref('int_standards_monthly') }}
where subcategory = ''
