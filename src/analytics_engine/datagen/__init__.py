"""Synthetic, realistic event data for the demo, tests and benchmarks."""
