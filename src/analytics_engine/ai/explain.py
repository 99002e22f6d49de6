"""`POST /v1/ai/explain`: why a metric changed between a baseline and a period (docs/ai.md).

The figures come from the typed insight registry (insights/registry.py), so every read goes through
the insight runners and the tenant-scoped query policy (warehouse/scoped.py) with the tenant's cache
and budget; each insight run becomes an evidence entry carrying its query and its result. The
ranking is `ai/decompose.py`; the onset is the best single split of the daily (cohort) series.
"""

from __future__ import annotations

import contextvars
import itertools
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from analytics_engine.ai.decompose import (
    Figures,
    Group,
    MetricType,
    Segment,
    Totals,
    decompose,
    onset_index,
    rank_contributors,
)
from analytics_engine.ai.schemas import (
    Change,
    Contributor,
    Evidence,
    ExplainRequest,
    ExplainResponse,
    MetricSpec,
    Period,
)
from analytics_engine.errors import InvalidInput, NotFound
from analytics_engine.insights.context import RunContext
from analytics_engine.insights.filters import NONE_LABEL, OTHER
from analytics_engine.insights.registry import parse_query, run
from analytics_engine.insights.segments import SegmentsRequest
from analytics_engine.insights.segments import compute as compute_segments

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime

MAX_PAIR_DIMENSIONS = 4  # pairs are formed among the first four dimensions
DEFAULT_DIMENSIONS = 4
DEFAULT_COVERAGE = 0.9
BREAKDOWN_LIMIT = 100
PARALLEL = 4
ONE_STATEMENT_KINDS = frozenset({"funnels", "retention"})
# Values that are no segment: the folded rest, and the property not set (another population, e.g.
# events that never carry the property); both stay in the totals.
NOT_SEGMENTS = frozenset({OTHER, "", NONE_LABEL})


class EvidenceLog:
    """Evidence entries of one answer, numbered e1, e2, ... in the order they were produced."""

    def __init__(self) -> None:
        self.items: list[Evidence] = []

    def add(self, kind: str, query: dict[str, Any], result: dict[str, Any]) -> str:
        evidence_id = f"e{len(self.items) + 1}"
        self.items.append(Evidence(id=evidence_id, kind=kind, query=query, result=result))  # type: ignore[arg-type]
        return evidence_id


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(float(value), digits)


def metric_type(kind: str, query: dict[str, Any]) -> MetricType:
    return "count" if kind == "trends" else "ratio"


def default_baseline(period: Period) -> Period:
    end = period.date_from - timedelta(days=1)
    return Period(date_from=end - timedelta(days=period.days - 1), date_to=end)


def overlaps(a: Period, b: Period) -> bool:
    return a.date_from <= b.date_to and b.date_from <= a.date_to


class ExplainService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    # --- checks ----------------------------------------------------------------------------------
    def resolve_metric(self, tenant_id: str, req: ExplainRequest) -> MetricSpec:
        if req.metric is not None:
            return req.metric
        try:
            metric = self.runtime.metrics.get(tenant_id, req.metric_id or "")
        except NotFound:
            raise InvalidInput(f"unknown metric {req.metric_id!r}", code="unknown_metric") from None
        query = metric.definition.query
        if query.get("kind") not in ("trends", "funnels", "retention"):
            raise InvalidInput("explain takes trends, funnels or retention metrics", code="unsupported_metric")
        return MetricSpec(kind=query["kind"], query=query)

    def check(self, tenant_id: str, spec: MetricSpec, req: ExplainRequest) -> tuple[dict[str, Any], list[str]]:
        """The normalised metric query and the dimensions, or 422 with the reason."""
        query = {**spec.query, "kind": spec.kind}
        model: Any = parse_query(query)
        if spec.kind == "trends" and (len(model.series) != 1 or model.formula):
            raise InvalidInput(
                "explain takes a trend with exactly one series and no formula", code="unsupported_metric"
            )
        taxonomy = self.runtime.taxonomy.get(tenant_id, include_hidden=True)
        events = {e.name for e in taxonomy.events}
        named = events_of(spec.kind, model)
        unknown = sorted(n for n in named if n not in events)
        if unknown:
            raise InvalidInput(
                f"unknown metric: this tenant never sent {', '.join(repr(n) for n in unknown)}",
                code="unknown_metric",
                details={"unknown_events": unknown},
            )
        keys = {p.key: p for p in taxonomy.properties}
        dimensions = list(dict.fromkeys(req.dimensions))
        missing = [d for d in dimensions if d not in keys]
        if missing:
            raise InvalidInput(
                f"unknown dimension: no property {', '.join(repr(d) for d in missing)} in this tenant's data",
                code="unknown_dimension",
                details={"unknown_dimensions": missing},
            )
        if not dimensions:
            # String properties set on nearly every event (at least DEFAULT_COVERAGE of them), busiest first.
            total = sum(e.volume for e in taxonomy.events) or 1
            strings = [p for p in taxonomy.properties if p.type == "string"]
            common = [p for p in strings if p.volume >= DEFAULT_COVERAGE * total] or strings
            dimensions = [p.key for p in sorted(common, key=lambda p: (-p.volume, p.key))[:DEFAULT_DIMENSIONS]]
        if not dimensions:
            raise InvalidInput("no dimensions to explain by: the tenant has no string properties", code="no_dimensions")
        return model.model_dump(mode="json", exclude_none=True), dimensions

    # --- the engine ------------------------------------------------------------------------------
    def explain(
        self, tenant: Any, req: ExplainRequest, log: EvidenceLog | None = None, *, refresh: bool = False
    ) -> ExplainResponse:
        log = log or EvidenceLog()
        spec = self.resolve_metric(tenant.tenant_id, req)
        baseline = req.baseline or default_baseline(req.period)
        if overlaps(baseline, req.period):
            raise InvalidInput(
                f"the baseline {baseline.date_from}..{baseline.date_to} overlaps the period "
                f"{req.period.date_from}..{req.period.date_to}",
                code="overlapping_periods",
            )
        query, dimensions = self.check(tenant.tenant_id, spec, req)
        tz = req.timezone or getattr(tenant, "timezone", None) or "UTC"
        kind = spec.kind
        mtype = metric_type(kind, query)
        groups_dims: list[tuple[str, ...]] = [(d,) for d in dimensions]
        groups_dims += list(itertools.combinations(dimensions[:MAX_PAIR_DIMENSIONS], 2))

        pairs = [dims for dims in groups_dims if len(dims) == 2]
        # Person-level and additive metrics: a dimension's figures are the sums of a pair's cells
        # over the other dimension, and the totals the sums of all cells, so only pairs are read
        # (a dimension whose pair folded values into '$other' is read on its own).
        derive = bool(pairs) and additive(kind, query) and all(any(d in p for p in pairs) for d in dimensions)
        union = Period(date_from=min(baseline.date_from, req.period.date_from), date_to=req.period.date_to)
        jobs: list[tuple[str, tuple[str, ...], Period]] = [("onset", (), union)]
        # Funnels and retention: the total, every dimension and every pair over both periods in one
        # statement (insights/segments.py); the onset series beside it.
        one_statement = kind in ONE_STATEMENT_KINDS
        if one_statement:
            derive = False
        elif not derive:
            jobs += [("group", (), baseline), ("group", (), req.period)]
        for dims in [] if one_statement else pairs if derive else groups_dims:
            jobs += [("group", dims, baseline), ("group", dims, req.period)]
        ctx = RunContext(self.runtime, tenant, refresh=refresh)
        figures: dict[tuple[tuple[str, ...], str], dict[tuple[str, ...], tuple[float, float]]] = {}
        evidence_of: dict[tuple[tuple[str, ...], str], str] = {}
        onset_series: list[tuple[str, float | None]] = []

        def run_jobs(batch: list[tuple[str, tuple[str, ...], Period]]) -> None:
            nonlocal onset_series
            queries = [self._query(query, kind, dims, p, tz, onset=(job == "onset")) for job, dims, p in batch]
            with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="ai-explain") as pool:
                futures = [pool.submit(contextvars.copy_context().run, _run_one, ctx, q) for q in queries]
                results = [future.result() for future in futures]
            for (job, dims, period), q, result in zip(batch, queries, results, strict=True):
                if job == "onset":
                    onset_series = _daily(kind, result, req.retention_period)
                    points = [[label, _round(v)] for label, v in onset_series]
                    evidence_of[((), "onset")] = log.add("insight", q, {"points": points})
                    continue
                which = "baseline" if period == baseline else "period"
                rows = _rows(kind, result, req.retention_period)
                figures[(dims, which)] = rows
                table = [[*key, _round(num), _round(den)] for key, (num, den) in rows.items()]
                columns = [*dims, "numerator", "denominator"] if mtype == "ratio" else [*dims, "value", "-"]
                evidence_of[(dims, which)] = log.add("insight", q, {"columns": columns, "rows": table})

        if one_statement:
            sets = ((), *groups_dims)
            segments_request = SegmentsRequest(
                kind=kind,
                query=query,
                sets=sets,
                baseline=_range(baseline),
                period=_range(req.period),
                timezone=tz,
                retention_period=req.retention_period,
                limit=BREAKDOWN_LIMIT,
            )
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ai-segments") as pool:
                future = pool.submit(
                    contextvars.copy_context().run,
                    compute_segments,
                    self.runtime,
                    tenant,
                    segments_request,
                    refresh=refresh,
                )
                run_jobs(jobs)
                computed_figures = future.result()
            for dims in sets:
                for which, period in (("baseline", baseline), ("period", req.period)):
                    rows = computed_figures[(dims, which)]
                    figures[(dims, which)] = rows
                    # The insight query these figures equal (tests/insights/test_segments.py).
                    q = self._query(query, kind, dims, period, tz, onset=False)
                    table = [[*key, _round(num), _round(den)] for key, (num, den) in rows.items()]
                    result = {"columns": [*dims, "numerator", "denominator"], "rows": table}
                    evidence_of[(dims, which)] = log.add("insight", q, result)
        else:
            run_jobs(jobs)
        if derive:
            missing: list[tuple[str, tuple[str, ...], Period]] = []
            for dimension in dimensions:
                source = next(
                    (
                        p
                        for p in pairs
                        if dimension in p
                        and all(
                            key[p.index(dimension)] != OTHER for w in ("baseline", "period") for key in figures[(p, w)]
                        )
                    ),
                    None,
                )
                if source is None:
                    missing += [("group", (dimension,), baseline), ("group", (dimension,), req.period)]
                    continue
                for which in ("baseline", "period"):
                    figures[((dimension,), which)] = marginal(figures[(source, which)], source.index(dimension))
                    evidence_of[((dimension,), which)] = evidence_of[(source, which)]
            for which in ("baseline", "period"):
                figures[((), which)] = {(): _sum(figures[(pairs[0], which)].values())}
            if missing:
                run_jobs(missing)

        def totals_from(which: str) -> tuple[float, float]:
            num = sum(n for n, _ in figures[((), which)].values())
            den = sum(d for _, d in figures[((), which)].values())
            return num, den

        (bn, bd), (cn, cd) = totals_from("baseline"), totals_from("period")
        totals = Totals(bn, cn) if mtype == "count" else Totals(bn / bd if bd else 0.0, cn / cd if cd else 0.0)
        groups: list[Group] = []
        for dims in groups_dims:
            base_rows = figures[(dims, "baseline")]
            cur_rows = figures[(dims, "period")]
            keys = sorted((set(base_rows) | set(cur_rows)) - {tuple(OTHER for _ in dims)})
            merged = {
                key: Figures(
                    base_rows.get(key, (0.0, 0.0))[0],
                    base_rows.get(key, (0.0, 0.0))[1],
                    cur_rows.get(key, (0.0, 0.0))[0],
                    cur_rows.get(key, (0.0, 0.0))[1],
                )
                for key in keys
                if not NOT_SEGMENTS.intersection(key)
            }
            groups.append(decompose(dims, merged, mtype, totals))
        ranked = rank_contributors(groups, limit=req.max_contributors)

        onset: date | None = None
        index = onset_index([v for _, v in onset_series])
        if index is not None:
            before = [v for _, v in onset_series[:index] if v is not None]
            after = [v for _, v in onset_series[index:] if v is not None]
            shift = (sum(after) / len(after) - sum(before) / len(before)) if before and after else 0.0
            # Reported only when the shift goes the way the change went and lands after the baseline starts.
            if shift * totals.absolute > 0:
                onset = date.fromisoformat(onset_series[index][0][:10])

        change = Change(
            baseline=_round(totals.baseline) or 0.0,
            current=_round(totals.current) or 0.0,
            absolute=_round(totals.absolute) or 0.0,
            relative=_round(totals.relative),
        )
        inputs = sorted(set(evidence_of.values()), key=lambda e: int(e[1:]))
        computed = {
            "change": change.model_dump(),
            "contributors": [_contributor_json(s) for s in ranked],
            "onset": onset.isoformat() if onset else None,
        }
        computation_id = log.add(
            "computation",
            {"rule": "docs/ai.md#explaining-a-change", "metric_type": mtype, "inputs": inputs},
            computed,
        )
        contributors = [_contributor(s, computation_id) for s in ranked]
        response = ExplainResponse(
            metric={"kind": kind, "query": query},
            metric_type=mtype,
            period=req.period,
            baseline=baseline,
            dimensions=dimensions,
            change=change,
            contributors=contributors,
            onset=onset,
            summary="",
            evidence=[],
        )
        from analytics_engine.ai.answers import explain_summary

        response.summary = explain_summary(response, metric_label(kind, query), computation_id)
        response.evidence = list(log.items)
        return response

    def _query(
        self, query: dict[str, Any], kind: str, dims: tuple[str, ...], period: Period, tz: str, *, onset: bool
    ) -> dict[str, Any]:
        q = {
            **query,
            "date_range": {"date_from": period.date_from.isoformat(), "date_to": period.date_to.isoformat()},
            "timezone": tz,
        }
        q.pop("breakdown", None)
        q.pop("breakdown_limit", None)
        if dims:
            q["breakdown"] = list(dims)
            q["breakdown_limit"] = BREAKDOWN_LIMIT
        if kind == "trends":
            q["interval"] = "day"
            q["compare"] = False
        elif kind == "funnels":
            if onset:
                q["interval"] = "day"
            else:
                q.pop("interval", None)
        return q


def _range(period: Period) -> dict[str, str]:
    return {"date_from": period.date_from.isoformat(), "date_to": period.date_to.isoformat()}


def additive(kind: str, query: dict[str, Any]) -> bool:
    """Whether segment figures add up to the total: funnels and retention count people by the one value
    of their entering (cohort) event; a trend's total or sum adds up; unique users and averages do not."""
    if kind in ("funnels", "retention"):
        return True
    series = (query.get("series") or [{}])[0]
    return series.get("math", "total") in ("total", "sum")


def marginal(
    rows: dict[tuple[str, ...], tuple[float, float]], index: int
) -> dict[tuple[str, ...], tuple[float, float]]:
    """A pair's cells summed over the other dimension: the figures of the dimension at `index`."""
    out: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for key, (num, den) in rows.items():
        out[(key[index],)][0] += num
        out[(key[index],)][1] += den
    return {key: (num, den) for key, (num, den) in out.items()}


def _sum(values: Any) -> tuple[float, float]:
    items = list(values)
    return sum(n for n, _ in items), sum(d for _, d in items)


def _run_one(ctx: RunContext, query: dict[str, Any]) -> Any:
    return run(ctx, parse_query(query))


def events_of(kind: str, model: Any) -> list[str]:
    if kind == "trends":
        return [s.event for s in model.series if s.event]
    if kind == "funnels":
        return [s.event for s in model.steps]
    return [e for e in (model.start_event.event, model.return_event.event) if e]


def metric_label(kind: str, query: dict[str, Any]) -> str:
    if kind == "retention":
        return "retention"
    if kind == "funnels":
        steps = query.get("steps") or []
        return f"conversion from {steps[0]['event']} to {steps[-1]['event']}" if steps else "conversion"
    series = (query.get("series") or [{}])[0]
    event = series.get("event") or "events"
    math = series.get("math", "total")
    return f"{event} ({'unique users' if math == 'unique_users' else math})"


def _rows(kind: str, result: Any, retention_period: int) -> dict[tuple[str, ...], tuple[float, float]]:
    """(numerator, denominator) per breakdown value of one insight result."""
    rows: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0.0, 0.0])
    if kind == "trends":
        for series in result.series:
            rows[tuple(series.breakdown_value or ())][0] += float(series.total or 0.0)
    elif kind == "funnels":
        for group in result.funnel or []:
            key = tuple(group.breakdown_value or ())
            rows[key][0] += group.steps[-1].count
            rows[key][1] += group.steps[0].count
    else:
        for cohort in result.retention or []:
            values = cohort.values
            if retention_period < len(values) and values[retention_period] is not None:
                key = tuple(cohort.breakdown_value or ())
                rows[key][0] += values[retention_period]
                rows[key][1] += cohort.size
    return {key: (num, den) for key, (num, den) in rows.items()}


def _daily(kind: str, result: Any, retention_period: int) -> list[tuple[str, float | None]]:
    """The metric per day (trends, funnels by entry day) or per cohort (retention)."""
    if kind == "trends":
        series = result.series[0] if result.series else None
        return [(p.bucket or p.label, p.value) for p in series.points] if series else []
    if kind == "funnels":
        trend = next((s for s in result.series if s.meta.get("trend")), None)
        return (
            [(p.bucket or p.label, None if p.value is None else p.value / 100) for p in trend.points] if trend else []
        )
    out: list[tuple[str, float | None]] = []
    for cohort in result.retention or []:
        values = cohort.values
        ok = retention_period < len(values) and values[retention_period] is not None and cohort.size
        out.append((cohort.date, (values[retention_period] or 0) / cohort.size if ok else None))
    return out


def _contributor_json(s: Segment) -> dict[str, Any]:
    return {
        "dimension": s.dimension,
        "value": s.value,
        "contribution": _round(s.contribution),
        "share": _round(s.share),
        "surprise": _round(s.surprise),
        "mix_effect": _round(s.mix_effect),
        "rate_effect": _round(s.rate_effect),
        "baseline_value": _round(s.baseline_value),
        "current_value": _round(s.current_value),
        "baseline_volume": _round(s.figures.base_den if s.mix_effect is not None else s.figures.base_num),
        "current_volume": _round(s.figures.cur_den if s.mix_effect is not None else s.figures.cur_num),
    }


def _contributor(s: Segment, evidence_id: str) -> Contributor:
    data = _contributor_json(s)
    return Contributor(
        **{**data, "contribution": data["contribution"] or 0.0, "surprise": data["surprise"] or 0.0},
        dimensions=list(s.dimensions),
        values=list(s.values),
        evidence_id=evidence_id,
    )
