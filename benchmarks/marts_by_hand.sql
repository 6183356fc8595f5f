-- The three marts of dbt_project/models/marts computed by hand in one DuckDB script, straight from
-- the clean Parquet: the yardstick for the dbt build in benchmarks/warehouse_province.py.
-- {clean} is replaced by the clean directory. Tiers: 80/90/100 (the default configuration).
create temp macro src(roster) as table
    select * from read_parquet('{clean}/' || roster || '/**/*.parquet', hive_partitioning = false, union_by_name = true);

create temp table divisions as
select division_code, any_value(division_name order by period desc) as division_name, any_value(urban_rural_code order by period desc) as urban_rural_code,
       case when substring(division_code, 10, 3) <> '000' then 'village' when substring(division_code, 7, 3) <> '000' then 'township'
            when substring(division_code, 5, 2) <> '00' then 'county' when substring(division_code, 3, 2) <> '00' then 'prefecture' else 'province' end as level
from src('division') group by division_code;

create temp table ancestors as
select d.division_code, a.code as ancestor_code, a.level as ancestor_level
from divisions d,
     (select unnest([d.division_code, left(d.division_code, 9) || '000', left(d.division_code, 6) || '000000',
                     left(d.division_code, 4) || '00000000', left(d.division_code, 2) || '0000000000']) as code) x(code),
     lateral (select x.code, dd.level from divisions dd where dd.division_code = x.code) a(code, level)
group by all;

create temp table population as
select a.ancestor_code as division_code, year(p.period) as year, p.basis, sum(p.total) as total, sum(p.aged_60_plus) as aged_60_plus,
       sum(p.aged_80_plus) as aged_80_plus, sum(p.aged_90_plus) as aged_90_plus, sum(p.aged_100_plus) as aged_100_plus
from src('population') p join ancestors a using (division_code) group by all;

create temp table months as select distinct period from src('person');

create temp table standards as
select c.division_code as county_code, m.period, s.programme, u.ur as urban_rural, coalesce(s.subcategory, '') as subcategory,
       arg_max(case when s.unit = 'per_year' then s.amount / 12 else s.amount end,
               (case dl.level when 'county' then 3 when 'prefecture' then 2 else 1 end) * 100000000 + epoch(s.effective_month)) as monthly_amount
from divisions c
join ancestors a on a.division_code = c.division_code
join src('standard') s on s.division_code = a.ancestor_code
join divisions dl on dl.division_code = s.division_code
cross join months m cross join (values ('urban'), ('rural')) u(ur)
where c.level = 'county' and s.effective_month <= m.period and s.urban_rural in (u.ur, 'all')
group by all;

-- ---------------------------------------------------------------- low_income_monitoring
create temp table memberships as
select p.period, p.programme, p.person_key, p.household_key, coalesce(p.division_code, f.division_code) as division_code, coalesce(p.urban_rural, f.urban_rural) as urban_rural
from src('person') p left join (select * from src('family') where status = 'active') f using (period, programme, household_key)
union all
select m.period, 'prevention', m.person_key, null, m.division_code, case when left(d.urban_rural_code, 1) = '1' then 'urban' else 'rural' end
from src('prevention') m left join divisions d using (division_code);

create temp table presence as
select period, programme, person_key, min(division_code) as division_code, min(urban_rural) as urban_rural from memberships group by all;

create temp table movements as
with b as (select programme, min(period) as first_period, max(period) as last_period from presence group by all)
select c.period, c.programme, c.division_code, c.urban_rural, 'entering' as movement
from presence c join b using (programme) anti join presence p on p.programme = c.programme and p.person_key = c.person_key and p.period = c.period - interval 1 month
where c.period > b.first_period
union all
select p.period + interval 1 month, p.programme, p.division_code, p.urban_rural, 'exiting'
from presence p join b using (programme) anti join presence n on n.programme = p.programme and n.person_key = p.person_key and n.period = p.period + interval 1 month
where p.period < b.last_period;

create table low_income_monitoring as
with listed as (select distinct period, programme, household_key from memberships where household_key is not null),
facts as (  -- a household: an active family with a member on the rolls (the others counted apart, their amount paid)
    select f.period, f.programme, f.division_code, f.urban_rural, count(l.household_key) as households,
           count(*) - count(l.household_key) as households_without_persons, sum(f.monthly_amount) as amount_paid, 0 as persons, 0 as entering, 0 as exiting
    from src('family') f left join listed l using (period, programme, household_key) where f.status = 'active' group by all
    union all select period, programme, division_code, urban_rural, 0, 0, null, count(*), 0, 0 from memberships group by all
    union all select cast(period as date), programme, division_code, urban_rural, 0, 0, null, 0, count_if(movement = 'entering'), count_if(movement = 'exiting') from movements group by all
), firsts as (select programme, min(period) as first_period from memberships group by all),
rolled as (
    select a.ancestor_code as division_code, a.ancestor_level as division_level, f.period, f.programme, f.urban_rural,
           sum(households) as households, sum(households_without_persons) as households_without_persons, sum(persons) as persons, sum(entering) as persons_entering, sum(exiting) as persons_exiting, sum(amount_paid) as amount_paid
    from facts f join ancestors a using (division_code) group by all
)
select r.division_code, r.division_level, r.period, r.programme, r.urban_rural,
       case when r.programme = 'prevention' then null else r.households end as households,
       case when r.programme = 'prevention' then null else r.households_without_persons end as households_without_persons, r.persons,
       case when r.period > fi.first_period then r.persons_entering end as persons_entering,
       case when r.period > fi.first_period then r.persons_exiting end as persons_exiting,
       r.amount_paid, r.amount_paid / nullif(r.persons, 0) as amount_per_person, s.monthly_amount as standard_monthly,
       r.persons * 1000.0 / nullif(ph.total, 0) as persons_per_1000_hukou, r.persons * 1000.0 / nullif(pr.total, 0) as persons_per_1000_resident
from rolled r left join firsts fi using (programme)
left join population ph on ph.division_code = r.division_code and ph.year = year(r.period) and ph.basis = 'hukou'
left join population pr on pr.division_code = r.division_code and pr.year = year(r.period) and pr.basis = 'resident'
left join standards s on r.division_level in ('county', 'township', 'village') and s.county_code = left(r.division_code, 6) || '000000'
     and s.period = r.period and s.urban_rural = r.urban_rural and s.subcategory = ''
     and s.programme = case when r.programme = 'tekun' then 'tekun' when r.programme = 'prevention' then 'none' else 'dibao' end;

-- ---------------------------------------------------------------- elderly_care_beds
create table elderly_care_beds as
with facts as (
    select year(period) as year, division_code, 1 as institutions, beds, nursing_beds, residents, 0 as community_beds,
           case when ownership = 'public' then 1 else 0 end as pub, case when ownership = 'private' then 1 else 0 end as pri
    from src('institution') where status = 'operating'
    union all select year(period), division_code, 0, 0, 0, 0, beds, 0, 0 from src('community_facility')
    union all select year(period), division_code, 0, 0, 0, 0, 0, 0, 0 from src('population')
), rolled as (
    select a.ancestor_code as division_code, a.ancestor_level as division_level, f.year, sum(institutions) as institutions, sum(pub) as institutions_public,
           sum(pri) as institutions_private, sum(beds) as institution_beds, sum(nursing_beds) as nursing_beds, sum(residents) as residents, sum(community_beds) as community_beds
    from facts f join ancestors a using (division_code) group by all
)
select r.*, r.nursing_beds / nullif(r.institution_beds, 0) as nursing_bed_share, r.residents / nullif(r.institution_beds, 0) as occupancy_rate,
       (r.institution_beds + r.community_beds) * 1000.0 / nullif(ph.aged_60_plus, 0) as beds_per_1000_aged_60_plus_hukou,
       (r.institution_beds + r.community_beds) * 1000.0 / nullif(pr.aged_60_plus, 0) as beds_per_1000_aged_60_plus_resident
from rolled r
left join population ph on ph.division_code = r.division_code and ph.year = r.year and ph.basis = 'hukou'
left join population pr on pr.division_code = r.division_code and pr.year = r.year and pr.basis = 'resident';

-- ---------------------------------------------------------------- subsidy_coverage
create table subsidy_coverage as
with payments as (
    select l.period, l.division_code, 'longevity' as programme,
           case when age >= 100 then '100周岁以上' when age >= 90 then '90-99周岁' when age >= 80 then '80-89周岁' else '未达起始年龄' end as subcategory, l.amount
    from (select *, date_diff('year', birth_date, last_day(period)) - case when strftime(last_day(period), '%m%d') < strftime(birth_date, '%m%d') then 1 else 0 end as age
          from src('longevity')) l
    union all select period, division_code, 'disab_living', '', amount from src('disab_living')
    union all select period, division_code, 'disab_care', '', amount from src('disab_care')
    union all select period, division_code, 'orphan', case care_mode when 'institutional' then '集中养育' else '散居' end, amount from src('orphan')
    union all select period, division_code, 'unsupported_child', '', amount from src('unsupported_child')
    union all select period, division_code, 'temporary', case assistance_type when 'emergency' then '急难型' else '支出型' end, amount from src('temporary')
), rolled as (
    select a.ancestor_code as division_code, a.ancestor_level as division_level, p.period, p.programme, p.subcategory, count(*) as recipients, sum(p.amount) as amount,
           max(s.monthly_amount) as standard_amount, count_if(p.amount > s.monthly_amount) as paid_above_standard, count_if(p.amount < s.monthly_amount) as paid_below_standard
    from payments p join ancestors a using (division_code)
    left join standards s on s.county_code = left(p.division_code, 6) || '000000' and s.period = p.period and s.programme = p.programme
         and s.subcategory = p.subcategory and s.urban_rural = 'urban'
    group by all
), eligible as (
    select division_code, m.period, 'longevity' as programme, t.subcategory,
           case t.subcategory when '80-89周岁' then aged_80_plus - aged_90_plus when '90-99周岁' then aged_90_plus - aged_100_plus else aged_100_plus end as eligible
    from population p join months m on year(m.period) = p.year cross join (values ('80-89周岁'), ('90-99周岁'), ('100周岁以上')) t(subcategory)
    where basis = 'hukou'
    union all
    select a.ancestor_code, p.period, 'disab_living', '', count(*) from src('person') p join ancestors a using (division_code)
    where p.is_disabled and p.programme in ('dibao', 'tekun') group by all
), under_standard as (
    select m.period, m.division_code, m.person_key
    from src('prevention') m join divisions d using (division_code)
    join standards s on s.county_code = left(m.division_code, 6) || '000000' and s.period = m.period and s.programme = 'dibao' and s.subcategory = ''
         and s.urban_rural = case when left(d.urban_rural_code, 1) = '1' then 'urban' else 'rural' end
    where m.annual_income_per_capita < s.monthly_amount * 12
), prevention as (
    select a.ancestor_code as division_code, a.ancestor_level as division_level, u.period, 'prevention_dibao' as programme, '' as subcategory,
           count(distinct d.person_key) as recipients, count(distinct u.person_key) as eligible
    from under_standard u join ancestors a using (division_code)
    left join (select distinct period, person_key from src('person') where programme = 'dibao') d on d.period = u.period and d.person_key = u.person_key
    group by all
)
select r.*, e.eligible, r.recipients / nullif(e.eligible, 0) as coverage_rate, r.amount / nullif(r.recipients, 0) as amount_per_recipient
from rolled r left join eligible e using (division_code, period, programme, subcategory)
union all by name
select division_code, division_level, period, programme, subcategory, recipients, eligible, recipients / nullif(eligible, 0) as coverage_rate
from prevention;
