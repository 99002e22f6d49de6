"""Cross-tenant benchmarks: peer-group statistics over opted-in tenants only, with k-anonymity and
optional Laplace noise. Pure statistics first (tested against numpy), then the refresh that writes
the `benchmarks` / `benchmark_members` warehouse tables and the tenant's read of its own answer.

Privacy rules (docs/impact.md): a group with fewer than k distinct tenants is suppressed; only
opted-in tenants are counted and only they can read benchmarks; an answer carries aggregates, the
asking tenant's own value and rank, and the group's size (only when the group has at least k tenants:
a suppressed group reveals nothing, not even its size), never another tenant's id, name or row. A
tenant is answered for the group its figure was computed in at the last refresh.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from analytics_engine.warehouse.client import Warehouse
from analytics_engine.warehouse.params import utc_text

QUANTILES = (("p10", 0.10), ("p25", 0.25), ("p50", 0.50), ("p75", 0.75), ("p90", 0.90))
COMPARE_WITH = {"industry": "industry", "region": "region", "size": "size_band"}
# Public clipping bounds of each metric: the sensitivity of the noise is derived from them.
BOUNDS = {"sroi": (0.0, 20.0), "vis": (0.0, 100.0)}


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile with linear interpolation between order statistics (numpy's default
    'linear' method, Hyndman and Fan type 7): position q x (n - 1) in the sorted values."""
    if not values:
        raise ValueError("quantile of no values")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def percentile_rank(values: Sequence[float], value: float) -> float:
    """Share of the group below `value`, counting ties as half (mid-rank), in percent."""
    below = sum(1 for v in values if v < value)
    equal = sum(1 for v in values if v == value)
    return 100.0 * (below + 0.5 * equal) / len(values)


def laplace(scale: float, rng: random.Random) -> float:
    """A draw from Laplace(0, scale) by inverse transform."""
    u = rng.random() - 0.5
    return -scale * math.copysign(1.0, u) * math.log(1 - 2 * abs(u))


@dataclass(frozen=True)
class GroupStats:
    tenants: int
    suppressed: bool
    reason: str
    stats: dict[str, float] | None
    epsilon: float | None


def group_stats(
    values: Sequence[float], *, k: int, epsilon: float | None, bounds: tuple[float, float], rng: random.Random
) -> GroupStats:
    """p10..p90 and mean of a peer group, or a suppression when it has fewer than k tenants.

    With `epsilon`, values are clipped to the metric's public bounds and each statistic receives
    Laplace noise of scale (hi - lo) / (n x epsilon): the smaller the group, the more noise."""
    n = len(values)
    if n < k:
        return GroupStats(n, True, f"fewer than {k} opted-in tenants in this peer group", None, epsilon)
    lo, hi = bounds
    data = [min(hi, max(lo, v)) for v in values] if epsilon else list(values)
    stats = {name: quantile(data, q) for name, q in QUANTILES}
    stats["mean"] = sum(data) / n
    if epsilon:
        scale = (hi - lo) / (n * epsilon)
        noisy = {name: min(hi, max(lo, value + laplace(scale, rng))) for name, value in stats.items()}
        ordered = sorted(noisy[name] for name, _ in QUANTILES)  # keep the quantiles monotone
        stats = {**{name: ordered[i] for i, (name, _) in enumerate(QUANTILES)}, "mean": noisy["mean"]}
    return GroupStats(n, False, "", stats, epsilon)


def noisy_rank(rank: float, n: int, epsilon: float | None, rng: random.Random) -> float:
    if not epsilon:
        return rank
    return min(100.0, max(0.0, rank + laplace(100.0 / (n * epsilon), rng)))


@dataclass(frozen=True)
class Member:
    tenant_id: str
    attributes: dict[str, str | None]  # compare_with -> group value
    values: dict[str, float | None]  # metric -> value


def build_rows(
    members: list[Member], *, k: int, epsilon: float | None, rng: random.Random, refreshed_at: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The `benchmarks` rows (one per peer group) and `benchmark_members` rows of one refresh."""
    refresh_id = uuid.uuid4().hex
    groups: list[dict[str, Any]] = []
    member_rows: list[dict[str, Any]] = []
    for metric, bounds in BOUNDS.items():
        for compare_with in COMPARE_WITH:
            by_group: dict[str, list[Member]] = {}
            for m in members:
                group = m.attributes.get(compare_with)
                if group and m.values.get(metric) is not None:
                    by_group.setdefault(group, []).append(m)
            for group, peers in sorted(by_group.items()):
                values = [float(p.values[metric]) for p in peers]  # type: ignore[arg-type]
                result = group_stats(values, k=k, epsilon=epsilon, bounds=bounds, rng=rng)
                row: dict[str, Any] = {
                    "refresh_id": refresh_id,
                    "refreshed_at": utc_text(refreshed_at),
                    "metric": metric,
                    "compare_with": compare_with,
                    "group_value": group,
                    "tenants": result.tenants,
                    "suppressed": result.suppressed,
                    "reason": result.reason,
                    "epsilon": epsilon,
                }
                row.update({name: None for name, _ in QUANTILES} | {"mean": None})
                if result.stats:
                    row.update(result.stats)
                groups.append(row)
                for p, value in zip(peers, values, strict=True):
                    rank = (
                        None
                        if result.suppressed
                        else noisy_rank(percentile_rank(values, value), len(values), epsilon, rng)
                    )
                    member_rows.append(
                        {
                            "refresh_id": refresh_id,
                            "refreshed_at": utc_text(refreshed_at),
                            "tenant_id": p.tenant_id,
                            "metric": metric,
                            "compare_with": compare_with,
                            "group_value": group,
                            "value": value,
                            "percentile_rank": rank,
                        }
                    )
    return groups, member_rows


GROUP_COLUMNS = (
    "refresh_id",
    "refreshed_at",
    "metric",
    "compare_with",
    "group_value",
    "tenants",
    "suppressed",
    "reason",
    "p10",
    "p25",
    "p50",
    "p75",
    "p90",
    "mean",
    "epsilon",
)
MEMBER_COLUMNS = (
    "refresh_id",
    "refreshed_at",
    "tenant_id",
    "metric",
    "compare_with",
    "group_value",
    "value",
    "percentile_rank",
)


# Peer-group aggregates span tenants by design: the one named exception to the tenant scope here.
PLATFORM_REASON = "impact benchmarks: cross-tenant peer-group aggregates"


def write_rows(warehouse: Warehouse, groups: list[dict[str, Any]], members: list[dict[str, Any]]) -> None:
    if groups:
        warehouse.platform(PLATFORM_REASON).insert_json_rows(
            warehouse.table("benchmarks"), GROUP_COLUMNS, b"\n".join(orjson.dumps(r) for r in groups)
        )
    if members:
        warehouse.platform(PLATFORM_REASON).insert_json_rows(
            warehouse.table("benchmark_members"), MEMBER_COLUMNS, b"\n".join(orjson.dumps(r) for r in members)
        )


def read_benchmark(
    warehouse: Warehouse, tenant_id: str, metric: str, compare_with: str, current_group: str | None
) -> dict[str, Any] | None:
    """The latest refresh's row of the asking tenant's peer group plus the tenant's own row.

    The group is the one the tenant's figure was computed in at that refresh (its `benchmark_members`
    row), not the tenant's group now: a tenant that changed industry since gets no statistics of the
    new group until a refresh places its figure there. Without a figure, the current group is used.
    Returns None when the latest refresh has no such group (or the tenant has none)."""
    latest = (
        warehouse.platform(PLATFORM_REASON)
        .query(
            f"SELECT refresh_id FROM {warehouse.table('benchmarks')} WHERE metric = {{metric:String}} "
            "ORDER BY refreshed_at DESC LIMIT 1",
            {"metric": metric},
        )
        .dicts()
    )
    if not latest:
        return None
    refresh_id = latest[0]["refresh_id"]
    own_rows = (
        warehouse.for_tenant(tenant_id)
        .query(
            f"SELECT value, percentile_rank, group_value FROM {warehouse.table('benchmark_members')} "
            "WHERE tenant_id = {tenant_id:String} AND refresh_id = {refresh_id:String} AND metric = {metric:String} "
            "AND compare_with = {compare_with:String} LIMIT 1",
            {"refresh_id": refresh_id, "metric": metric, "compare_with": compare_with},
        )
        .dicts()
    )
    own = own_rows[0] if own_rows else None
    group_value = own.pop("group_value") if own else current_group
    if group_value is None:
        return None
    group = (
        warehouse.platform(PLATFORM_REASON)
        .query(
            f"SELECT refresh_id, refreshed_at, tenants, suppressed, reason, p10, p25, p50, p75, p90, mean, epsilon "
            f"FROM {warehouse.table('benchmarks')} "
            "WHERE refresh_id = {refresh_id:String} AND metric = {metric:String} "
            "AND compare_with = {compare_with:String} AND group_value = {group:String} LIMIT 1",
            {"refresh_id": refresh_id, "metric": metric, "compare_with": compare_with, "group": group_value},
        )
        .dicts()
    )
    if not group:
        return None
    return {**group[0], "group_value": group_value, "own": own}


def latest_refresh_at(warehouse: Warehouse) -> datetime | None:
    platform = warehouse.platform(PLATFORM_REASON)
    value = platform.query(f"SELECT max(refreshed_at) FROM {warehouse.table('benchmarks')}").scalar()
    return value if value and value.year > 1970 else None
