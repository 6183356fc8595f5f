-- Each warning month by month, and what the caseworkers found (预警 → 核查 → 处置 → 反馈):
--   new        the first month it holds (first_raised: the first month of its current run of months),
--   ongoing    while it keeps holding, unchecked,
--   verified   found true (属实, 已整改) in a returned list during this run of months,
--   escalated  verified, yet still holding local.escalate_after_months after the month it was checked
--              (severity one step up; a sheet of its own on the caseworker list),
--   dismissed  found not true (不属实) and its triggering figures (detail) unchanged since: it leaves
--              the list; it comes back as soon as the figures change,
--   resolved   the first month it no longer holds (within the months the data covers).
-- A month's states follow from its warnings, the month before's and the returned lists up to that
-- month, so an incremental build (macros/build_window.sql) reads what was kept for the month before
-- its first and rewrites its own months only: rebuilding or re-running a month gives the same history.
{{ config(materialized="incremental", incremental_strategy="append", pre_hook="{{ delete_build_window() }}") }}
with held as (  -- one row per warning and month (a person listed twice in a month is one warning)
    select alert_key, period, min(alert_ref) as alert_ref, min(rule_code) as rule_code, min(severity) as severity,
           min(programme) as programme, min(division_code) as division_code, min(person_key) as person_key,
           min(household_key) as household_key, min(household_no) as household_no, min(head_id_masked) as head_id_masked,
           min(id_masked) as id_masked, min(detail) as detail
    from {{ ref('monitoring_alerts') }}
    where {{ in_build_window_or_month_before('period') }}
    group by alert_key, period
),

months as (select period from {{ ref('dim_periods') }} where period_type = 'month'),

numbered as (  -- consecutive months of a warning share a run number
    select h.*,
           extract(year from h.period) * 12 + extract(month from h.period)
           - row_number() over (partition by h.alert_key order by h.period) as run_number
    from held as h
),

runs as (
    select alert_key, run_number, min(period) as run_start from numbered group by all
),

{% if is_incremental() and var('rebuild_from', none) -%}
carried as (  -- a run already going in the month before this build's first: it started when that build said
    select alert_key, first_raised from {{ this }}
    where period = cast({{ dbt.dateadd('month', -1, build_window_start()) }} as date) and status <> 'resolved'
),
{%- endif %}

with_first as (
    select n.*,
    {%- if is_incremental() and var('rebuild_from', none) %}
           case when r.run_start < {{ build_window_start() }} then coalesce(c.first_raised, r.run_start) else r.run_start end as first_raised
    from numbered as n
    inner join runs as r on r.alert_key = n.alert_key and r.run_number = n.run_number
    left join carried as c on c.alert_key = n.alert_key
    {%- else %}
           r.run_start as first_raised
    from numbered as n
    inner join runs as r on r.alert_key = n.alert_key and r.run_number = n.run_number
    {%- endif %}
),

answers as (  -- every returned answer, with the figures the warning had in the month of its list
    select v.period as list_month, v.result, v.check_date, v.source_file, v.source_sheet, v.source_row, a.alert_key, a.detail as detail_checked
    from {{ ref('stg_checks__verifications') }} as v
    inner join {{ ref('monitoring_alerts') }} as a on a.alert_ref = v.alert_ref and a.period = v.period
    where v.result is not null
),

latest_answer as (  -- the last answer given up to each month
    select w.alert_key, w.period, x.list_month, x.result, x.check_date, x.detail_checked
    from with_first as w
    inner join answers as x on x.alert_key = w.alert_key and x.list_month <= w.period
    qualify row_number() over (
        partition by w.alert_key, w.period
        order by x.list_month desc, x.check_date desc nulls last, x.source_file desc, x.source_sheet desc nulls last, x.source_row desc
    ) = 1
),

states as (
    select w.*, a.list_month as checked_in, a.result, a.check_date,
        case
            when a.result = 'dismissed' and a.detail_checked = w.detail then 'dismissed'
            when a.result in ('confirmed', 'rectified') and a.list_month >= w.first_raised then
                case when w.period >= cast({{ dbt.dateadd('month', var('escalate_after_months'), 'a.list_month') }} as date)
                     then 'escalated' else 'verified' end
            when w.first_raised < w.period then 'ongoing'
            else 'new'
        end as status
    from with_first as w
    left join latest_answer as a on a.alert_key = w.alert_key and a.period = w.period
),

resolved as (
    select s.alert_key, cast({{ dbt.dateadd('month', 1, 's.period') }} as date) as period, s.alert_ref, s.rule_code, s.severity,
           s.programme, s.division_code, s.person_key, s.household_key, s.household_no, s.head_id_masked, s.id_masked, s.detail,
           'resolved' as status, s.first_raised, s.checked_in, s.result, s.check_date
    from states as s
    inner join months as m on m.period = cast({{ dbt.dateadd('month', 1, 's.period') }} as date)
    left join held as nxt on nxt.alert_key = s.alert_key and nxt.period = m.period
    where nxt.alert_key is null and {{ in_build_window('m.period') }}
)

select alert_key, period, alert_ref, rule_code,
       case when status = 'escalated' then case severity when 'low' then 'medium' else 'high' end else severity end as severity,
       programme, division_code, person_key, household_key, household_no, head_id_masked, id_masked, detail,
       status, first_raised, checked_in, result, check_date
from states
where {{ in_build_window('period') }}
union all
select alert_key, period, alert_ref, rule_code, severity, programme, division_code, person_key, household_key, household_no,
       head_id_masked, id_masked, detail, status, first_raised, checked_in, result, check_date
from resolved
