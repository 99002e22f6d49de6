"""Benchmarks (`analytics-engine bench <name>`): each prints its figure, a baseline measured in the
same run and their ratio, and writes JSON under `benchmarks/results/`."""
