"""Per-tenant query budgets: admission gate, ClickHouse limit settings, daily usage accounting.
See `service.py` for the calling pattern and docs/cache-and-budgets.md for limits and defaults."""

from __future__ import annotations

from analytics_engine.budgets.schemas import BudgetLimits, BudgetPublic, BudgetUpdate, UsagePublic
from analytics_engine.budgets.service import Admission, BudgetService

__all__ = ["Admission", "BudgetLimits", "BudgetPublic", "BudgetService", "BudgetUpdate", "UsagePublic"]
