-- Each warning across months: new the first month it holds, ongoing while it keeps holding,
-- resolved the first month it stops (within the months the data covers). A month's states follow
-- from its warnings and the month before's, so an incremental build (macros/build_window.sql)
-- reads the warnings kept for the month before its first and rewrites its own months only:
-- rebuilding or re-running a month gives the same history.
{{ config(materialized="incremental", incremental_strategy="append", pre_hook="{{ delete_build_window() }}") }}
with alerts as (
    select
        concat(rule_code, ':', coalesce(person_key, household_key, division_code)) as alert_key,
        rule_code, severity, programme, division_code, period, person_key, household_key, id_masked, detail
    from {{ ref('monitoring_alerts') }}
    where {{ in_build_window_or_month_before('period') }}
),

held as (
    select alert_key, period, min(rule_code) as rule_code, min(severity) as severity, min(programme) as programme,
           min(division_code) as division_code, min(person_key) as person_key, min(household_key) as household_key,
           min(id_masked) as id_masked, min(detail) as detail
    from alerts
    group by alert_key, period
),

months as (select period from {{ ref('dim_periods') }} where period_type = 'month'),

with_previous as (
    select h.*, prev.alert_key is not null as held_before
    from held as h
    left join held as prev on prev.alert_key = h.alert_key and prev.period = cast({{ dbt.dateadd('month', -1, 'h.period') }} as date)
),

resolved as (
    select h.alert_key, cast({{ dbt.dateadd('month', 1, 'h.period') }} as date) as period, h.rule_code, h.severity, h.programme,
           h.division_code, h.person_key, h.household_key, h.id_masked, h.detail, 'resolved' as status
    from held as h
    inner join months as m on m.period = cast({{ dbt.dateadd('month', 1, 'h.period') }} as date)
    left join held as nxt on nxt.alert_key = h.alert_key and nxt.period = m.period
    where nxt.alert_key is null and {{ in_build_window('m.period') }}
)

select alert_key, period, rule_code, severity, programme, division_code, person_key, household_key, id_masked, detail,
       case when held_before then 'ongoing' else 'new' end as status
from with_previous
where {{ in_build_window('period') }}
union all
select alert_key, period, rule_code, severity, programme, division_code, person_key, household_key, id_masked, detail, status
from resolved
