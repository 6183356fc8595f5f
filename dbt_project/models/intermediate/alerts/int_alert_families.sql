{{ config(materialized="view") }}
-- Households on the rolls this month, with the month's reference date: what the household rules read.
select f.period, f.programme, f.household_key, f.head_id_masked, f.division_code, f.urban_rural, f.monthly_amount,
       f.covered_persons, f.family_size, f.monthly_income_per_capita, f.annual_income, f.recognition_date,
       f.last_review_date, pr.reference_date
from {{ ref('stg_rosters__families') }} as f
inner join {{ ref('dim_periods') }} as pr on pr.period = f.period and pr.period_type = 'month'
where f.status = 'active'
