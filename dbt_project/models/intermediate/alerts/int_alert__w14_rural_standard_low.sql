{{ config(materialized="view") }}
-- W14 a region's rural 低保 standard below local.w14_rural_urban_min_ratio of its urban one
-- (a local rule, off unless local.w14_enabled).
{% if var('w14_enabled') %}
select 'W14' as rule_code, 'dibao' as programme, u.county_code as division_code, u.period, cast(null as string) as person_key,
       cast(null as string) as household_key, cast(null as string) as person_id_masked,
       concat('农村低保标准', {{ money_text('r.monthly_amount') }}, '元/月，低于城市标准', {{ money_text('u.monthly_amount') }}, '元/月的',
              cast(cast(round({{ var('w14_rural_urban_min_ratio') }} * 100) as int) as string), '%') as detail
from {{ ref('int_alert_standards') }} as u
inner join {{ ref('int_alert_standards') }} as r
    on r.county_code = u.county_code and r.period = u.period and r.programme = 'dibao' and r.urban_rural = 'rural'
where u.programme = 'dibao' and u.urban_rural = 'urban' and r.monthly_amount < u.monthly_amount * {{ var('w14_rural_urban_min_ratio') }}
{% else %}
select cast(null as string) as rule_code, cast(null as string) as programme, cast(null as string) as division_code,
       cast(null as date) as period, cast(null as string) as person_key, cast(null as string) as household_key,
       cast(null as string) as person_id_masked, cast(null as string) as detail
where false
{% endif %}
