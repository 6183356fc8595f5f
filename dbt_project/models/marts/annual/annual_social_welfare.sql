-- 社会福利年报: region x year: 高龄津贴 by tier (tier1 = the youngest, from local.longevity_tiers),
-- 两项补贴, 孤儿 (集中养育/散居) and 事实无人抚养儿童. 年末 = the year's last month held; 全年 = the sum
-- over the year's months; coverage = 年末 recipients / the eligible population of that month.
{%- set tiers = var('longevity_tiers') | sort %}
{%- set programmes = ['longevity', 'disab_living', 'disab_care', 'orphan', 'unsupported_child'] %}
with years as ({{ annual_years() }}),

coverage as (
    select c.*, y.year, c.period = y.year_end as at_year_end
    from {{ ref('subsidy_coverage') }} as c
    inner join years as y on y.year = extract(year from c.period)
    where c.programme in ({{ "'" ~ programmes | join("', '") ~ "'" }})
),

held as (
    select year,
    {%- for p in programmes %}
        bool_or(programme = '{{ p }}') as {{ p }}{{ "," if not loop.last }}
    {%- endfor %}
    from coverage
    group by all
),

figures as (
    select division_code, year,
    {%- for p in programmes %}
        sum(case when at_year_end and programme = '{{ p }}' then recipients end) as {{ p }}_recipients,
        sum(case when programme = '{{ p }}' then amount end) as {{ p }}_spending,
    {%- endfor %}
    {%- for low in tiers %}
        sum(case when at_year_end and programme = 'longevity' and subcategory = '{{ longevity_tier_label(low) }}' then recipients end) as longevity_tier{{ loop.index }}_recipients,
        sum(case when at_year_end and programme = 'longevity' and subcategory = '{{ longevity_tier_label(low) }}' then eligible end) as longevity_tier{{ loop.index }}_eligible,
    {%- endfor %}
        sum(case when at_year_end and programme = 'orphan' and subcategory = '集中养育' then recipients end) as orphan_institutional,
        sum(case when at_year_end and programme = 'orphan' and subcategory = '散居' then recipients end) as orphan_scattered
    from coverage
    group by all
)

select
    r.division_code, r.division_name, r.division_level, r.level_rank, r.parent_code,
    cast(r.year as bigint) as year, r.year_end, r.months_held,
{%- for p in programmes %}
    cast({{ held('h.' ~ p, 'f.' ~ p ~ '_recipients') }} as bigint) as {{ p }}_recipients,
    {{ held('h.' ~ p, 'f.' ~ p ~ '_spending') }} as {{ p }}_spending,
{%- endfor %}
{%- for low in tiers %}
    cast({{ held('h.longevity', 'f.longevity_tier' ~ loop.index ~ '_recipients') }} as bigint) as longevity_tier{{ loop.index }}_recipients,
    cast(f.longevity_tier{{ loop.index }}_eligible as bigint) as longevity_tier{{ loop.index }}_eligible,
    cast(f.longevity_tier{{ loop.index }}_recipients as double) / nullif(f.longevity_tier{{ loop.index }}_eligible, 0) as longevity_tier{{ loop.index }}_coverage,
{%- endfor %}
    cast({{ held('h.orphan', 'f.orphan_institutional') }} as bigint) as orphan_institutional,
    cast({{ held('h.orphan', 'f.orphan_scattered') }} as bigint) as orphan_scattered
from ({{ annual_regions() }}) as r
left join held as h on h.year = r.year
left join figures as f on f.division_code = r.division_code and f.year = r.year
