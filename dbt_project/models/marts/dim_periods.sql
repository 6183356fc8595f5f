-- Months (with the reference date used for ages: the last day of the month), quarters and years
-- present in the data (all of them, also in an incremental build).
with monthly as (
    -- every month held, whatever months this build rewrites: the period column of each source only
    {%- for roster in ['family', 'person', 'longevity', 'disab_living', 'disab_care', 'orphan', 'unsupported_child', 'temporary', 'prevention'] %}
    {% if not loop.first %}union {% endif %}select period from {{ source('clean', roster) }}
    {%- endfor %}
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
    cast(extract(year from period) as bigint) as year,  -- bigint on every engine (Spark's extract gives int)
    cast(extract(quarter from period) as bigint) as quarter,
    cast(extract(month from period) as bigint) as month,
    last_day(period) as reference_date
from monthly
union all
select distinct
    make_date(cast(extract(year from period) as int), cast((extract(quarter from period) - 1) * 3 + 1 as int), 1) as period,
    'quarter' as period_type,
    concat(cast(extract(year from period) as string), 'Q', cast(extract(quarter from period) as string)) as period_label,
    cast(extract(year from period) as bigint) as year,
    cast(extract(quarter from period) as bigint) as quarter,
    cast(null as bigint) as month,
    last_day(make_date(cast(extract(year from period) as int), cast(extract(quarter from period) * 3 as int), 1)) as reference_date
from monthly
union all
select
    make_date(cast(year as int), 1, 1) as period,
    'year' as period_type,
    cast(year as string) as period_label,
    cast(year as bigint) as year,
    cast(null as bigint) as quarter,
    cast(null as bigint) as month,
    make_date(cast(year as int), 12, 31) as reference_date
from yearly
