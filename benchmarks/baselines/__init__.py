"""Baseline servers that ``benchmarks/bench_http.py`` measures next to the project's service."""
