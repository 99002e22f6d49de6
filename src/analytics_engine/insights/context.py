"""What a caller adds around an insight query, typed, instead of editing query dicts by hand.

`Overrides` is what a dashboard, a metric query, an export or a report lays on top of a stored query
(period, extra property filters, cohort, time zone, breakdown, interval). Each kind declares which of
them it accepts (`InsightKind.accepts` in `insights/registry.py`): impact figures take a period only,
only trends take an interval. `RunContext` is who runs it and how: the runtime (warehouse, cache,
budgets), the tenant (a `TenantContext`) and whether to bypass the cache. Where the answer came from
(`served_by`, `cached`, `timing`) travels on the typed result itself (`insights/results.py`).
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime

Override = Literal["date_range", "filters", "cohort_id", "timezone", "breakdown", "interval"]
ALL_OVERRIDES: frozenset[Override] = frozenset(
    ("date_range", "filters", "cohort_id", "timezone", "breakdown", "interval")
)


@dataclass(frozen=True)
class Overrides:
    date_from: str | None = None
    date_to: str | None = None
    filters: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    cohort_id: str | None = None
    timezone: str | None = None
    breakdown: tuple[str, ...] = field(default_factory=tuple)
    interval: str | None = None

    def apply(self, query: dict[str, Any], accepts: Collection[Override] = ALL_OVERRIDES) -> dict[str, Any]:
        """A copy of `query` with those overrides that its kind `accepts` applied."""
        out = copy.deepcopy(query)
        if "date_range" in accepts and (self.date_from or self.date_to):
            date_range = dict(out.get("date_range") or {})
            if self.date_from:
                date_range["date_from"] = self.date_from
                if not self.date_to:
                    # A new start with the stored end could make an empty or inverted period.
                    date_range.pop("date_to", None)
            if self.date_to:
                date_range["date_to"] = self.date_to
            out["date_range"] = date_range
        if "filters" in accepts and self.filters:
            extra = [{"type": "property", **item} if "type" not in item else item for item in self.filters]
            out["filters"] = [*(out.get("filters") or []), *extra]
        if "cohort_id" in accepts and self.cohort_id:
            out["cohort_id"] = self.cohort_id
        if "timezone" in accepts and self.timezone:
            out["timezone"] = self.timezone
        if "breakdown" in accepts and self.breakdown:
            out["breakdown"] = list(self.breakdown)
        if "interval" in accepts and self.interval:
            out["interval"] = self.interval
        return out


@dataclass(frozen=True)
class RunContext:
    """Who computes an insight: `runtime` (warehouse, cache, budgets), `tenant` (a TenantContext)."""

    runtime: Runtime
    tenant: Any
    refresh: bool = False
