"""Impact measurement: SROI and VIS with versioned, explainable formulas, and private cross-tenant
benchmarks. See docs/impact.md."""
