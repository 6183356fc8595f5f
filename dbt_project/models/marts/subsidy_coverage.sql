-- 补贴覆盖: region x month x programme x subcategory: recipients, amounts, the standard for the
-- tier, recipients paid above or below it, and coverage = recipients / eligible where a register
-- defines the eligible population (see the model description). Kept from build to build: an
-- incremental build rewrites its months only (macros/build_window.sql).
{{ config(materialized="incremental", incremental_strategy="append", pre_hook="{{ delete_build_window() }}") }}
select
    r.division_code,
    d.division_name,
    r.division_level,
    r.period,
    r.programme,
    r.subcategory,
    e.eligible,
    r.recipients,
    cast(r.recipients as double) / nullif(e.eligible, 0) as coverage_rate,
    r.amount,
    r.amount / nullif(r.recipients, 0) as amount_per_recipient,
    r.standard_amount,
    r.paid_above_standard,
    r.paid_below_standard
from {{ ref('int_subsidy_recipients') }} as r
left join {{ ref('int_subsidy_eligible') }} as e
    on e.division_code = r.division_code and e.period = r.period and e.programme = r.programme and e.subcategory = r.subcategory
left join {{ ref('dim_divisions') }} as d on d.division_code = r.division_code
where {{ in_build_window('r.period') }}
