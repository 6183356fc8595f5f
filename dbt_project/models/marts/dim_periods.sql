-- Months (with the reference date used for ages: the last day of the month), quarters and years
-- present in the data.
with monthly as (
    select period from {{ ref('stg_rosters__families') }}
    union select period from {{ ref('stg_rosters__persons') }}
    union select period from {{ ref('stg_rosters__longevity_payments') }}
    union select period from {{ ref('stg_rosters__disab_living_payments') }}
    union select period from {{ ref('stg_rosters__disab_care_payments') }}
    union select period from {{ ref('stg_rosters__orphan_payments') }}
    union select period from {{ ref('stg_rosters__unsupported_child_payments') }}
    union select period from {{ ref('stg_rosters__temporary_cases') }}
    union select period from {{ ref('stg_checks__prevention_monitoring') }}
),

yearly as (
    select distinct extract(year from period) as year from monthly
    union select extract(year from period) from {{ ref('stg_registers__institutions') }}
    union select extract(year from period) from {{ ref('stg_registers__population') }}
)

select
    period,
    'month' as period_type,
    concat(cast(extract(year from period) as string), '-', lpad(cast(extract(month from period) as string), 2, '0')) as period_label,
    extract(year from period) as year,
    extract(quarter from period) as quarter,
    extract(month from period) as month,
    last_day(period) as reference_date
from monthly
union all
select distinct
    make_date(cast(extract(year from period) as int), cast((extract(quarter from period) - 1) * 3 + 1 as int), 1) as period,
    'quarter' as period_type,
    concat(cast(extract(year from period) as string), 'Q', cast(extract(quarter from period) as string)) as period_label,
    extract(year from period) as year,
    extract(quarter from period) as quarter,
    cast(null as bigint) as month,
    last_day(make_date(cast(extract(year from period) as int), cast(extract(quarter from period) * 3 as int), 1)) as reference_date
from monthly
union all
select
    make_date(cast(year as int), 1, 1) as period,
    'year' as period_type,
    cast(year as string) as period_label,
    year,
    cast(null as bigint) as quarter,
    cast(null as bigint) as month,
    make_date(cast(year as int), 12, 31) as reference_date
from yearly
