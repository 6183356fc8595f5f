-- 社会救助年报: region x year, for the annual statistics tables (reports/tables.yaml). 年末 figures
-- are the year's last month held (December for a whole year); 全年 figures are sums over the year's
-- months. From the kept monthly marts only, so an incremental build that rewrites a few months
-- still gives whole years.
{%- set groups = [('dibao', none), ('dibao', 'urban'), ('dibao', 'rural'), ('tekun', none), ('tekun', 'urban'), ('tekun', 'rural')] %}
with years as ({{ annual_years() }}),

monitoring as (
    select l.*, y.year, l.period = y.year_end as at_year_end
    from {{ ref('low_income_monitoring') }} as l
    inner join years as y on y.year = extract(year from l.period)
    where l.programme in ('dibao', 'tekun')
),

temporary as (
    select c.division_code, y.year, c.subcategory, c.recipients, c.amount
    from {{ ref('subsidy_coverage') }} as c
    inner join years as y on y.year = extract(year from c.period)
    where c.programme = 'temporary'
),

held as (  -- the programmes with any row in the year
    select year,
           bool_or(programme = 'dibao') as dibao,
           bool_or(programme = 'tekun') as tekun,
           bool_or(programme = 'temporary') as temporary
    from (
        select year, programme from monitoring
        union all
        select year, 'temporary' from temporary
    )
    group by all
),

figures as (
    select division_code, year,
    {%- for programme, urban_rural in groups %}
        {%- set prefix = programme ~ ('_' ~ urban_rural if urban_rural else '') %}
        {%- set cond = "programme = '" ~ programme ~ "'" ~ (" and urban_rural = '" ~ urban_rural ~ "'" if urban_rural else '') %}
        sum(case when at_year_end and {{ cond }} then households end) as {{ prefix }}_households,
        sum(case when at_year_end and {{ cond }} then persons end) as {{ prefix }}_persons,
        {%- if programme == 'tekun' %}
        sum(case when at_year_end and {{ cond }} then persons_centralised end) as {{ prefix }}_centralised,
        sum(case when at_year_end and {{ cond }} then persons_dispersed end) as {{ prefix }}_dispersed,
        {%- endif %}
        sum(case when {{ cond }} then amount_paid end) as {{ prefix }}_spending,
        sum(case when {{ cond }} then persons end) as {{ prefix }}_person_months{{ ',' if not loop.last }}
    {%- endfor %}
    from monitoring
    group by all
),

-- 平均标准: the standards of the year-end month weighted by the persons they apply to (counties'
-- standards weighted up the hierarchy; a township or village has its county's)
standards as (
    select a.ancestor_code as division_code, m.year, m.programme, m.urban_rural,
           sum(m.standard_monthly * m.persons) / nullif(sum(case when m.standard_monthly is not null then m.persons end), 0) as standard
    from monitoring as m
    inner join {{ ref('int_division_ancestors') }} as a on a.division_code = m.division_code
    where m.at_year_end and m.division_level = 'county'
    group by all
    union all
    select division_code, year, programme, urban_rural, case when persons > 0 then standard_monthly end
    from monitoring
    where at_year_end and division_level in ('township', 'village')
),

standard_columns as (
    select division_code, year,
        max(case when programme = 'dibao' and urban_rural = 'urban' then standard end) as dibao_urban_standard,
        max(case when programme = 'dibao' and urban_rural = 'rural' then standard end) as dibao_rural_standard
    from standards
    group by all
),

temporary_figures as (
    select division_code, year,
        sum(recipients) as temporary_cases,
        sum(amount) as temporary_spending,
        sum(case when subcategory = '急难型' then recipients end) as temporary_emergency_cases,
        sum(case when subcategory = '急难型' then amount end) as temporary_emergency_spending,
        sum(case when subcategory = '支出型' then recipients end) as temporary_expenditure_cases,
        sum(case when subcategory = '支出型' then amount end) as temporary_expenditure_spending
    from temporary
    group by all
)

select
    r.division_code, r.division_name, r.division_level, r.level_rank, r.parent_code,
    cast(r.year as bigint) as year, r.year_end, r.months_held,
{%- for programme, urban_rural in groups %}
    {%- set prefix = programme ~ ('_' ~ urban_rural if urban_rural else '') %}
    cast({{ held('h.' ~ programme, 'f.' ~ prefix ~ '_households') }} as bigint) as {{ prefix }}_households,
    cast({{ held('h.' ~ programme, 'f.' ~ prefix ~ '_persons') }} as bigint) as {{ prefix }}_persons,
    {%- if programme == 'tekun' %}
    cast({{ held('h.tekun', 'f.' ~ prefix ~ '_centralised') }} as bigint) as {{ prefix }}_centralised,
    cast({{ held('h.tekun', 'f.' ~ prefix ~ '_dispersed') }} as bigint) as {{ prefix }}_dispersed,
    {%- endif %}
    {{ held('h.' ~ programme, 'f.' ~ prefix ~ '_spending') }} as {{ prefix }}_spending,
    {%- if programme == 'dibao' and urban_rural %}
    s.{{ prefix }}_standard,
    f.{{ prefix }}_spending / nullif(f.{{ prefix }}_person_months, 0) as {{ prefix }}_payment,
    {%- endif %}
{%- endfor %}
    cast({{ held('h.temporary', 't.temporary_cases') }} as bigint) as temporary_cases,
    {{ held('h.temporary', 't.temporary_spending') }} as temporary_spending,
    cast({{ held('h.temporary', 't.temporary_emergency_cases') }} as bigint) as temporary_emergency_cases,
    {{ held('h.temporary', 't.temporary_emergency_spending') }} as temporary_emergency_spending,
    cast({{ held('h.temporary', 't.temporary_expenditure_cases') }} as bigint) as temporary_expenditure_cases,
    {{ held('h.temporary', 't.temporary_expenditure_spending') }} as temporary_expenditure_spending
from ({{ annual_regions() }}) as r
left join held as h on h.year = r.year
left join figures as f on f.division_code = r.division_code and f.year = r.year
left join standard_columns as s on s.division_code = r.division_code and s.year = r.year
left join temporary_figures as t on t.division_code = r.division_code and t.year = r.year
