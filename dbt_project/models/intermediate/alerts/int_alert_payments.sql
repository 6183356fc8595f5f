{{ config(materialized="view") }}
-- Every person paid a subsidy this month, whatever the subsidy: what the payment rules read.
select period, 'longevity' as programme, person_key, person_id_masked, division_code, birth_date, amount from {{ ref('stg_rosters__longevity_payments') }}
union all select period, 'disab_living', person_key, person_id_masked, division_code, birth_date, amount from {{ ref('stg_rosters__disab_living_payments') }}
union all select period, 'disab_care', person_key, person_id_masked, division_code, birth_date, amount from {{ ref('stg_rosters__disab_care_payments') }}
union all select period, 'orphan', person_key, person_id_masked, division_code, birth_date, amount from {{ ref('stg_rosters__orphan_payments') }}
union all select period, 'unsupported_child', person_key, person_id_masked, division_code, birth_date, amount from {{ ref('stg_rosters__unsupported_child_payments') }}
