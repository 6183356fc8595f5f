-- 监测预警年报: region x year. A warning (one rule for one person, household or region) counts once
-- in a year whatever the months it held; checked / confirmed / dismissed / escalated from the
-- returned caseworker lists; overdue = still unchecked at the year's last month held, past
-- local.verify_within_days days after the end of the month first raised.
with years as ({{ annual_years() }}),

lifecycle as (
    select l.*, y.year, y.year_end,
        cast({{ dbt.dateadd('day', var('verify_within_days'), 'last_day(l.first_raised)') }} as date) as deadline
    from {{ ref('monitoring_alert_lifecycle') }} as l
    inner join years as y on y.year = extract(year from l.period)
    inner join {{ ref('dim_divisions') }} as d on d.division_code = l.division_code
),

per_warning as (
    select alert_key, year,
        max_by(division_code, period) as division_code,  -- where it stood last in the year: counted once (DuckDB and Spark)
        bool_or(status <> 'resolved') as raised,
        bool_or(status in ('verified', 'escalated', 'dismissed')) as checked,
        bool_or(status in ('verified', 'escalated')) as confirmed,
        bool_or(status = 'dismissed') as dismissed,
        bool_or(status = 'escalated') as escalated,
        bool_or(status in ('verified', 'escalated', 'dismissed') and check_date <= deadline) as on_time,
        bool_or(period = year_end and status in ('new', 'ongoing') and last_day(period) > deadline) as overdue
    from lifecycle
    group by all
),

rolled as (  -- each warning counted in its own division (a village's too) and every division above it
    select a.ancestor_code as division_code, w.year, w.raised, w.checked, w.confirmed, w.dismissed, w.escalated, w.overdue, w.on_time
    from per_warning as w
    inner join {{ ref('int_division_ancestors') }} as a on a.division_code = w.division_code
),

figures as (
    select division_code, year,
        count_if(raised) as raised, count_if(checked) as checked, count_if(confirmed) as confirmed,
        count_if(dismissed) as dismissed, count_if(escalated) as escalated, count_if(overdue) as overdue,
        count_if(on_time) as on_time
    from rolled
    group by all
),

held as (select distinct year from lifecycle)

select
    r.division_code, r.division_name, r.division_level, r.level_rank, r.parent_code,
    cast(r.year as bigint) as year, r.year_end, r.months_held,
    {%- for c in ['raised', 'checked', 'confirmed', 'dismissed', 'escalated', 'overdue', 'on_time'] %}
    cast({{ held('h.year is not null', 'f.' ~ c) }} as bigint) as {{ c }},
    {%- endfor %}
    cast(f.on_time as double) / nullif(f.checked + f.overdue, 0) as on_time_share
from ({{ annual_regions() }}) as r
left join held as h on h.year = r.year
left join figures as f on f.division_code = r.division_code and f.year = r.year
