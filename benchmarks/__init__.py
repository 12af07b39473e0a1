"""Reproducible performance runs that print figures (`python -m benchmarks.<name>`)."""
