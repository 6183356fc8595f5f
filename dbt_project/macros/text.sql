{#- Figures written into text (the warnings' detail): the same text on every engine. -#}

{#- An amount in yuan as text with two decimals ("2655.00"): the number's shortest decimal form,
    rounded half up to the fen. A double cast to text differs by engine (Spark writes 1.23456789E7
    from ten million up), and so does a double cast to a decimal: DuckDB rounds the binary value
    (1.005 becomes 1.00), Spark its shortest decimal form (1.01). -#}
{% macro money_text(amount) -%}
    {{ return(adapter.dispatch('money_text', 'civstat')(amount)) }}
{%- endmacro %}

{% macro default__money_text(amount) -%}
    cast(cast(cast({{ amount }} as string) as decimal(38, 2)) as string)
{%- endmacro %}

{% macro spark__money_text(amount) -%}
    cast(cast({{ amount }} as decimal(38, 2)) as string)
{%- endmacro %}
