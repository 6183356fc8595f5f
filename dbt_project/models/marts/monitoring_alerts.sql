-- 低收入人口动态监测预警 W01-W14 (DOMAIN.md section 5): one row per rule, period and person,
-- household or region. Each rule is its own model (models/intermediate/alerts/int_alert__wNN_*.sql,
-- thresholds from config/civstat.yaml through dbt vars); the catalogue (seeds/warning_rules.csv)
-- names them, and int_alerts (generated from it) unions them. Kept from build to build: an
-- incremental build rewrites its months only (macros/build_window.sql).
--
-- A warning is its rule and subject (alert_key); alert_ref, printed on the caseworker list and
-- written back on it, is a short stable number for it; household_no likewise for the household.
-- detail holds the triggering figures (never the month), so a dismissed warning returns when they change.
{{ config(materialized="incremental", incremental_strategy="append", pre_hook="{{ delete_build_window() }}") }}
with alerts as (
    select a.*, concat(a.rule_code, ':', coalesce(a.person_key, a.household_key, a.division_code)) as alert_key
    from {{ ref('int_alerts') }} as a
    where {{ in_build_window('a.period') }}
),

heads as (
    select period, household_key, min(head_id_masked) as head_id_masked
    from {{ ref('stg_rosters__families') }}
    group by all
)

select
    a.alert_key,
    upper(left(md5(a.alert_key), 10)) as alert_ref,
    a.rule_code,
    r.severity,
    a.programme,
    a.division_code,
    a.period,
    a.person_key,
    a.household_key,
    upper(left(a.household_key, 8)) as household_no,
    h.head_id_masked,
    a.person_id_masked as id_masked,
    a.detail,
    r.rule_zh
from alerts as a
inner join {{ ref('warning_rules') }} as r on r.rule_code = a.rule_code
left join heads as h on h.period = a.period and h.household_key = a.household_key
