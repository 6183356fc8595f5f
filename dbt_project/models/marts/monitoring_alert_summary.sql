-- Warnings by rule, region (every level) and month: how many are new, ongoing and resolved. Kept
-- from build to build: an incremental build rewrites its months only (macros/build_window.sql).
{{ config(materialized="incremental", incremental_strategy="append", pre_hook="{{ delete_build_window() }}") }}
select
    a.ancestor_code as division_code,
    d.division_name,
    a.ancestor_level as division_level,
    l.period,
    l.rule_code,
    count_if(l.status = 'new') as new_warnings,
    count_if(l.status = 'ongoing') as ongoing_warnings,
    count_if(l.status = 'resolved') as resolved_warnings
from {{ ref('monitoring_alert_lifecycle') }} as l
inner join {{ ref('int_division_ancestors') }} as a on a.division_code = l.division_code
left join {{ ref('dim_divisions') }} as d on d.division_code = a.ancestor_code
where {{ in_build_window('l.period') }}
group by all
