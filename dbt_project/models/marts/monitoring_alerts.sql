-- 低收入人口动态监测预警 W01-W14 (DOMAIN.md section 5): one row per rule, period and person,
-- household or region. Each rule is its own model (models/intermediate/alerts/int_alert__wNN_*.sql,
-- thresholds from config/civstat.yaml through dbt vars); the catalogue (seeds/warning_rules.csv)
-- names them, and int_alerts (generated from it) unions them. Kept from build to build: an
-- incremental build rewrites its months only (macros/build_window.sql).
{{ config(materialized="incremental", incremental_strategy="append", pre_hook="{{ delete_build_window() }}") }}
select
    a.rule_code,
    r.severity,
    a.programme,
    a.division_code,
    a.period,
    a.person_key,
    a.household_key,
    a.person_id_masked as id_masked,
    a.detail,
    r.rule_zh
from {{ ref('int_alerts') }} as a
inner join {{ ref('warning_rules') }} as r on r.rule_code = a.rule_code
where {{ in_build_window('a.period') }}
