-- One row per person roster row (低保, 特困, 低保边缘, 刚性支出困难) with its region resolved and
-- the month's reference date: the one narrow copy of the person rosters that memberships, the
-- warning rules and the eligibility counts read (kept in memory for the run, see profiles.yml).
with periods as (select period, reference_date from {{ ref('dim_periods') }} where period_type = 'month'),

active_families as (
    select period, programme, household_key, division_code, urban_rural
    from {{ ref('stg_rosters__families') }}
    where status = 'active'
),

persons as (
    select period, programme, person_key, person_id_masked, household_key, division_code, urban_rural,
           birth_date, is_disabled, work_ability, support_mode
    from {{ ref('stg_rosters__persons') }}
    where coalesce(status, 'active') = 'active'
),

-- a person row names its own region; only rows without one look it up in their household's row
resolved as (
    select * from persons where division_code is not null and urban_rural is not null
    union all
    select
        p.period, p.programme, p.person_key, p.person_id_masked, p.household_key,
        coalesce(p.division_code, f.division_code) as division_code,
        coalesce(p.urban_rural, f.urban_rural) as urban_rural,
        p.birth_date, p.is_disabled, p.work_ability, p.support_mode
    from persons as p
    left join active_families as f
        on f.period = p.period and f.programme = p.programme and f.household_key = p.household_key
    where p.division_code is null or p.urban_rural is null
)

select r.*, pr.reference_date
from resolved as r
inner join periods as pr on pr.period = r.period
