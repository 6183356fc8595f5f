{#-
  Incremental builds by month. civstat passes `rebuild_from` (the first month whose inputs changed
  since the last complete build, 'YYYY-MM-01') or nothing for a full build; see
  pipelines/civstat/warehouse/increments.py. Monthly rosters are read from that month on (staging),
  the per-month marts delete their rows from that month on and insert the new ones, and the models
  that look back one month (entering/exiting persons, the warnings' lifecycle) read the month
  before from the tables kept by the previous build.
-#}

{#- The first month this build writes, as a SQL date, or none in a full build. -#}
{% macro build_window_start() -%}
    {%- set start = var('rebuild_from', none) -%}
    {%- if start -%}date '{{ start }}'{%- endif -%}
{%- endmacro %}

{#- Rows of the months this build writes (every row in a full build). -#}
{% macro in_build_window(column) -%}
    {%- if var('rebuild_from', none) -%}{{ column }} >= {{ build_window_start() }}{%- else -%}true{%- endif -%}
{%- endmacro %}

{#- Rows of the months this build writes and of the month before them (a look back of one month). -#}
{% macro in_build_window_or_month_before(column) -%}
    {%- if var('rebuild_from', none) -%}
        {{ column }} >= cast({{ dbt.dateadd('month', -1, build_window_start()) }} as date)
    {%- else -%}true{%- endif -%}
{%- endmacro %}

{#- Config of a per-month table kept between builds: the rows of the build's months are deleted,
    then the model's rows (of those months only) appended. A partial build over a missing table
    would lose history, so it stops instead. -#}
{% macro delete_build_window() -%}
    {%- if var('rebuild_from', none) -%}
        {%- if is_incremental() -%}
            delete from {{ this }} where period >= {{ build_window_start() }}
        {%- elif execute -%}
            {{ exceptions.raise_compiler_error(this.identifier ~ " has no table from an earlier build: run a full rebuild (civstat build --full-refresh)") }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
