-- 防止返贫监测对象 whose annual income per head is under 12 x the 低保 standard of their place.
select m.period, m.division_code, m.person_key
from {{ ref('stg_checks__prevention_monitoring') }} as m
inner join {{ ref('int_divisions_enriched') }} as d on d.division_code = m.division_code
inner join {{ ref('int_standards_monthly') }} as s
    on s.county_code = d.county_code and s.period = m.period and s.programme = 'dibao' and s.subcategory = ''
    and s.urban_rural = case when left(d.urban_rural_code, 1) = '1' then 'urban' else 'rural' end
where m.annual_income_per_capita < s.monthly_amount * 12
