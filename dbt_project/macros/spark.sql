{#-
  What the Spark target (profiles.yml `spark`) needs that dbt-duckdb does by itself. Each macro is
  dispatched: DuckDB keeps its own behaviour, Spark gets the variant named spark__*.
-#}

{#- The clean Parquet as the tables of source `clean` (run at the start of every dbt command, an
    on-run-start hook). dbt-duckdb reads them through the source's meta.external_location; Spark
    needs catalog tables: one per roster, over its folder data/clean/<roster>/ (the period=<p>
    subfolders read as plain folders: `period` is a column of the files), with the column types of
    the roster registry (models/staging/_clean__sources.yml), so a roster without data yet still
    has its columns. -#}
{% macro register_clean_sources() -%}
    {{ return(adapter.dispatch('register_clean_sources', 'civstat')()) }}
{%- endmacro %}

{% macro default__register_clean_sources() -%}{%- endmacro %}

{% macro spark__register_clean_sources() -%}
    {%- if execute -%}
        {%- set spark_types = {'varchar': 'string'} -%}
        {%- set clean_dir = env_var('CIVSTAT_CLEAN_DIR') -%}
        {%- set tables = graph.sources.values() | selectattr('source_name', 'equalto', 'clean') | list -%}
        {%- for schema in tables | map(attribute='schema') | unique -%}
            {%- do run_query('create database if not exists ' ~ schema) -%}
        {%- endfor -%}
        {%- for table in tables -%}
            {%- set columns = [] -%}
            {%- for column in table.columns.values() -%}
                {%- do columns.append(column.name ~ ' ' ~ spark_types.get(column.data_type, column.data_type)) -%}
            {%- endfor -%}
            {%- do run_query('drop table if exists ' ~ table.schema ~ '.' ~ table.identifier) -%}
            {%- do run_query(
                'create table ' ~ table.schema ~ '.' ~ table.identifier ~ ' (' ~ columns | join(', ') ~ ') using parquet'
                ~ " options (recursiveFileLookup 'true') location '" ~ clean_dir ~ '/' ~ table.name ~ "'"
            ) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#- Intermediate models live in DuckDB's in-memory `scratch` database (dbt_project.yml); Spark has
    no databases above schemas (dbt-spark refuses one): there they are tables of their schema. -#}
{% macro spark__generate_database_name(custom_database_name=none, node=none) -%}
    {{ return(none) }}
{%- endmacro %}

{#- Seeds: dbt-spark's session mode pastes each value into the insert unescaped (an apostrophe
    breaks the statement) and turns an empty cell into the text 'None'. Here each value is a SQL
    literal, escaped, and an empty cell is null, as on DuckDB. -#}
{% macro spark__load_csv_rows(model, agate_table) -%}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set types = [] -%}
    {%- for name in agate_table.column_names -%}
        {%- do types.append(column_override.get(name, adapter.convert_type(agate_table, loop.index0))) -%}
    {%- endfor -%}
    {%- set sql -%}
        insert into {{ this.render() }} values
        {%- for row in agate_table.rows %}
        ({% for value in row -%}
            {%- if value is none -%}cast(null as {{ types[loop.index0] }})
            {%- else -%}cast('{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}' as {{ types[loop.index0] }})
            {%- endif -%}{{ ', ' if not loop.last }}
        {%- endfor %}){{ ',' if not loop.last }}
        {%- endfor %}
    {%- endset -%}
    {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
    {{ return(sql) }}
{%- endmacro %}
