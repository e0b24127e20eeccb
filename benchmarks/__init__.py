"""Benchmarks: per-stage time and memory of the pipeline against DuckDB's own floor."""
