"""Small synthetic series for the forecasting tests."""

from __future__ import annotations

import numpy as np


def weekly_counts(n: int = 140, level: float = 200.0, seed: int = 1) -> np.ndarray:
    """Daily counts with a weekly pattern, a mild trend and Poisson noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    lam = level * (1 + 0.3 * np.sin(2 * np.pi * t / 7)) * (1 + t / 400)
    return rng.poisson(lam).astype(np.float64)
