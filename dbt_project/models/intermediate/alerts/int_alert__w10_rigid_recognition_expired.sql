{{ config(materialized="view") }}
-- W10 刚性支出 recognition older than local.rigid_recognition_valid_months.
select 'W10' as rule_code, 'rigid' as programme, division_code, period, cast(null as string) as person_key, household_key,
       head_id_masked as person_id_masked,
       concat('认定日期', cast(recognition_date as string), '，已超过', cast({{ var('rigid_recognition_valid_months') }} as string), '个月') as detail
from {{ ref('int_alert_families') }}
where programme = 'rigid'
  and recognition_date < cast({{ dbt.dateadd('month', -var('rigid_recognition_valid_months'), 'reference_date') }} as date)
