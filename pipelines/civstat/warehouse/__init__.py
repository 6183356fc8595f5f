"""The warehouse: dbt models over the clean Parquet, built into DuckDB and published atomically."""
