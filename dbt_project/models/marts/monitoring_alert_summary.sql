-- Warnings by rule, region (every level) and month, and how the loop went (预警 → 核查 → 反馈):
-- raised (holding this month), new, ongoing, resolved, checked (an answer came back in the current
-- run of months: verified, escalated or dismissed), confirmed (属实 or 已整改), dismissed (不属实),
-- escalated, open past the deadline (unchecked local.verify_within_days days after the end of the
-- month first raised) and the share checked on time (checked by the deadline, out of those
-- checked or past it). Kept from build to build: an incremental build rewrites its months only.
{{ config(materialized="incremental", incremental_strategy="append", pre_hook="{{ delete_build_window() }}") }}
with states as (
    select l.*,
        cast({{ dbt.dateadd('day', var('verify_within_days'), 'last_day(l.first_raised)') }} as date) as deadline,
        l.status in ('verified', 'escalated', 'dismissed') as checked
    from {{ ref('monitoring_alert_lifecycle') }} as l
    where {{ in_build_window('l.period') }}
),

counted as (
    select s.*,
        s.status in ('new', 'ongoing') and last_day(s.period) > s.deadline as overdue,
        s.checked and s.check_date <= s.deadline as on_time
    from states as s
)

select
    a.ancestor_code as division_code,
    d.division_name,
    a.ancestor_level as division_level,
    c.period,
    c.rule_code,
    cast(count_if(c.status <> 'resolved') as bigint) as raised_warnings,
    cast(count_if(c.status = 'new') as bigint) as new_warnings,
    cast(count_if(c.status = 'ongoing') as bigint) as ongoing_warnings,
    cast(count_if(c.status = 'resolved') as bigint) as resolved_warnings,
    cast(count_if(c.checked) as bigint) as checked_warnings,
    cast(count_if(c.status in ('verified', 'escalated')) as bigint) as confirmed_warnings,
    cast(count_if(c.status = 'dismissed') as bigint) as dismissed_warnings,
    cast(count_if(c.status = 'escalated') as bigint) as escalated_warnings,
    cast(count_if(c.overdue) as bigint) as overdue_warnings,
    cast(count_if(c.on_time) as double) / nullif(count_if(c.checked) + count_if(c.overdue), 0) as checked_on_time_share
from counted as c
inner join {{ ref('int_division_ancestors') }} as a on a.division_code = c.division_code
left join {{ ref('dim_divisions') }} as d on d.division_code = a.ancestor_code
group by all
