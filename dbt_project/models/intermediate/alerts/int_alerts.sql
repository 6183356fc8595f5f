-- GENERATED from dbt_project/seeds/warning_rules.csv by `civstat dbt-sources`: every rule model of the catalogue.
{{ config(materialized="view") }}
select * from {{ ref('int_alert__w01_paid_after_death') }}
union all
select * from {{ ref('int_alert__w02_dibao_and_tekun') }}
union all
select * from {{ ref('int_alert__w03_twice_in_a_programme') }}
union all
select * from {{ ref('int_alert__w04_amount_above_ceiling') }}
union all
select * from {{ ref('int_alert__w05_income_above_standard') }}
union all
select * from {{ ref('int_alert__w06_tekun_not_eligible') }}
union all
select * from {{ ref('int_alert__w07_child_aged_18') }}
union all
select * from {{ ref('int_alert__w08_longevity_tier') }}
union all
select * from {{ ref('int_alert__w09_two_subsidies_eligibility') }}
union all
select * from {{ ref('int_alert__w10_rigid_recognition_expired') }}
union all
select * from {{ ref('int_alert__w11_review_overdue') }}
union all
select * from {{ ref('int_alert__w12_prevention_not_covered') }}
union all
select * from {{ ref('int_alert__w13_registrations') }}
union all
select * from {{ ref('int_alert__w14_rural_standard_low') }}
