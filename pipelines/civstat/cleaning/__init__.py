"""Cleaning: plain library code (no Dagster) that turns raw roster cells into typed values."""
