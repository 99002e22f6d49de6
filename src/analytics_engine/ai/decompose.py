"""Explaining a change, the pure part: segment figures in, ranked contributors out (docs/ai.md).

No I/O here: `ai/explain.py` fetches the figures through the insight registry, `bench/explain.py`
feeds generated scenarios, and both rank with `rank_contributors`.

A metric is either additive (`count`: a trend's total, sum or unique users; a segment's value is
its numerator) or a ratio (`ratio`: funnel conversion, retention; numerator / denominator). Every
segment carries (baseline numerator, baseline denominator, current numerator, current denominator);
an additive metric's denominators are ignored.

Per segment of a group (one dimension, or a pair of dimensions): its contribution to the change
(ratios: mix effect + rate effect), its share of the change (Adtributor's explanatory power) and its
surprise (Adtributor's Jensen-Shannon term). Per group: the explanatory set and its score, from each
segment's deviation from the group's typical movement (`_explain`). Groups rank by score. The exact
rules, to recompute by hand, are in docs/ai.md ("Explaining a change").
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

MetricType = Literal["count", "ratio"]

# Adtributor's thresholds (Bhagwan et al., NSDI 2014), applied to deviations: a segment of the
# explanatory set holds at least 10% of the group's absolute deviation, the set at least 67%.
MIN_SHARE = 0.1
EXPLAINED_SHARE = 0.67
PAIR_FACTOR = 2.0
# Support: a segment counts when its baseline + current volume (denominators for ratios, values for
# counts) is at least MIN_SUPPORT and at least MIN_SUPPORT_SHARE of the group's volume.
MIN_SUPPORT = 30.0
MIN_SUPPORT_SHARE = 0.01
MIN_FOR_MEDIAN = 3
NOISE_SIGMAS = 2.0


@dataclass(frozen=True)
class Figures:
    base_num: float
    base_den: float
    cur_num: float
    cur_den: float


@dataclass
class Segment:
    dimensions: tuple[str, ...]
    values: tuple[str, ...]
    figures: Figures
    contribution: float = 0.0
    share: float | None = None
    surprise: float = 0.0
    mix_effect: float | None = None
    rate_effect: float | None = None
    baseline_value: float | None = None
    current_value: float | None = None
    supported: bool = True
    # y - g x under the group's best explanation (docs/ai.md, "Ranking").
    deviation: float = 0.0

    @property
    def dimension(self) -> str:
        return " & ".join(self.dimensions)

    @property
    def value(self) -> str:
        return " & ".join(self.values)


@dataclass
class Group:
    dimensions: tuple[str, ...]
    segments: list[Segment]
    explained: list[Segment] = field(default_factory=list)
    explained_share: float = 0.0
    score: float = 0.0
    factor: float = 1.0  # g: the typical movement of the group's segments
    direction: float = 0.0  # the sign of the change to explain (0: none)


@dataclass(frozen=True)
class Totals:
    baseline: float
    current: float

    @property
    def absolute(self) -> float:
        return self.current - self.baseline

    @property
    def relative(self) -> float | None:
        return None if self.baseline == 0 else self.absolute / self.baseline


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def totals_of(rows: Mapping[tuple[str, ...], Figures], metric: MetricType) -> Totals:
    base_num = sum(f.base_num for f in rows.values())
    cur_num = sum(f.cur_num for f in rows.values())
    if metric == "count":
        return Totals(base_num, cur_num)
    base_den = sum(f.base_den for f in rows.values())
    cur_den = sum(f.cur_den for f in rows.values())
    return Totals(_ratio(base_num, base_den) or 0.0, _ratio(cur_num, cur_den) or 0.0)


def js_term(p: float, q: float) -> float:
    """One element's Jensen-Shannon term in bits (0 log 0 = 0)."""
    m = (p + q) / 2
    if m <= 0:
        return 0.0
    out = 0.0
    if p > 0:
        out += 0.5 * p * math.log2(p / m)
    if q > 0:
        out += 0.5 * q * math.log2(q / m)
    return out


def decompose(
    dimensions: tuple[str, ...],
    rows: Mapping[tuple[str, ...], Figures],
    metric: MetricType,
    totals: Totals | None = None,
) -> Group:
    """Contribution, share, surprise and (ratios) mix and rate effect of every segment of one group."""
    totals = totals or totals_of(rows, metric)
    change = totals.absolute
    sum_bn = sum(f.base_num for f in rows.values())
    sum_cn = sum(f.cur_num for f in rows.values())
    sum_bd = sum(f.base_den for f in rows.values())
    sum_cd = sum(f.cur_den for f in rows.values())
    volume = (sum_bd + sum_cd) if metric == "ratio" else (sum_bn + sum_cn)
    segments = []
    expected: list[float] = []  # ratios: w1 * r0 (the current mix at baseline rates)
    actual: list[float] = []  # ratios: w1 * r1
    for values, f in rows.items():
        seg = Segment(dimensions, values, f)
        if metric == "count":
            seg.contribution = f.cur_num - f.base_num
            seg.baseline_value, seg.current_value = f.base_num, f.cur_num
            seg.surprise = js_term(f.base_num / sum_bn if sum_bn else 0, f.cur_num / sum_cn if sum_cn else 0)
            support = f.base_num + f.cur_num
        else:
            r_all = totals.baseline
            w0 = f.base_den / sum_bd if sum_bd else 0.0
            w1 = f.cur_den / sum_cd if sum_cd else 0.0
            r0 = _ratio(f.base_num, f.base_den)
            r1 = _ratio(f.cur_num, f.cur_den)
            seg.baseline_value, seg.current_value = r0, r1
            # A segment absent from one side keeps its other side's rate: all of its effect is mix.
            r0_ = r0 if r0 is not None else (r1 if r1 is not None else r_all)
            r1_ = r1 if r1 is not None else r0_
            seg.mix_effect = (w1 - w0) * (r0_ - r_all)
            seg.rate_effect = w1 * (r1_ - r0_)
            seg.contribution = seg.mix_effect + seg.rate_effect
            expected.append(w1 * r0_)
            actual.append(w1 * r1_)
            support = f.base_den + f.cur_den
        seg.share = seg.contribution / change if change else None
        seg.supported = support >= MIN_SUPPORT and (volume == 0 or support >= MIN_SUPPORT_SHARE * volume)
        segments.append(seg)
    if metric == "ratio":
        sum_e, sum_a = sum(expected), sum(actual)
        for seg, e, a in zip(segments, expected, actual, strict=True):
            seg.surprise = js_term(e / sum_e if sum_e else 0.0, a / sum_a if sum_a else 0.0)
    group = Group(dimensions, segments, direction=math.copysign(1.0, change) if change and metric == "ratio" else 0.0)
    _explain(group)
    return group


def _explain(group: Group) -> None:
    """The explanatory set of one group and its score (docs/ai.md, "Ranking").

    Each supported segment has a reference x and an observed y: counts the baseline and current value;
    ratios the current denominator times the baseline rate, and the current numerator (so a pure mix
    shift moves nothing). g is the median of y / x over the segments (one vote each): what a typical
    segment did, an evenly spread change included (two segments: `_explain_pair_of_segments`).
    A segment's deviation is d = y - g x. The set: the
    segments by |d|, largest first, each at least MIN_SHARE of sum |d|, until they hold EXPLAINED_SHARE
    of it, and never all of the segments (a change of everyone is no segment's).
    score = |sum of d over the set| - sum over the rest of max(0, |d| - NOISE_SIGMAS sd): what the set
    moved, net, beyond the typical segment, less what the rest moved apart from it beyond sampling
    noise (sd: counts sqrt(baseline + current); ratios sqrt(n1 r0 (1 - r0) + n1^2 r0 (1 - r0) / n0)).
    Two segments moving in opposite directions (a mix shift) cancel in the first term."""
    ratio = any(s.rate_effect is not None for s in group.segments)
    items: list[tuple[Segment, float, float, float]] = []  # segment, x, y, variance of y - x
    for seg in group.segments:
        if not seg.supported:
            continue
        f = seg.figures
        if ratio:
            r0 = _ratio(f.base_num, f.base_den)
            rate = r0 if r0 is not None else (_ratio(f.cur_num, f.cur_den) or 0.0)
            x = f.cur_den * rate
            spread_r0 = rate * (1 - rate) / f.base_den if f.base_den else 0.0
            variance = f.cur_den * rate * (1 - rate) + f.cur_den**2 * spread_r0
        else:
            x = f.base_num
            variance = f.base_num + f.cur_num
        items.append((seg, x, f.cur_num, max(variance, 0.0)))
    if not items:
        group.explained, group.score = [], float("-inf")
        return
    if len(items) < MIN_FOR_MEDIAN:
        _explain_pair_of_segments(group, items)
        return
    g = statistics.median([y / x if x else 1.0 for _, x, y, _ in items])
    group.factor = g
    for seg, x, y, _ in items:
        seg.deviation = y - g * x
    spread = sum(abs(seg.deviation) for seg, _, _, _ in items)
    ordered = sorted(items, key=lambda item: (-abs(item[0].deviation), item[0].values))
    taken: list[Segment] = []
    held = 0.0
    for seg, _, _, _ in ordered[: len(ordered) - 1]:  # never every segment: that is the whole population
        if spread == 0 or abs(seg.deviation) < MIN_SHARE * spread:
            break
        if seg.deviation * group.direction < 0:
            continue  # moved against the change: it explains none of it (Adtributor: positive share only)
        taken.append(seg)
        held += abs(seg.deviation)
        if held >= EXPLAINED_SHARE * spread:
            break
    group.explained = taken
    group.explained_share = sum(seg.share or 0.0 for seg in taken)
    if not taken:
        group.score = float("-inf")
        return
    inside = {id(seg) for seg in taken}
    # The rest's movement beyond sampling noise (NOISE_SIGMAS standard deviations of y - g x).
    residual = sum(
        max(0.0, abs(seg.deviation) - NOISE_SIGMAS * math.sqrt(var))
        for seg, _, _, var in items
        if id(seg) not in inside
    )
    group.score = abs(sum(seg.deviation for seg in taken)) - residual


def _explain_pair_of_segments(group: Group, items: list[tuple[Segment, float, float, float]]) -> None:
    """Two supported segments (one: nothing to compare with): the one to explain is the one whose
    partner moved least against its own baseline (|y/x - 1|; the stable one is the reference); g is
    the partner's y / x; score = |D| - NOISE_SIGMAS sd with var(D) = var + (x / x_partner)^2 var_partner
    (the uncertainty of g included)."""
    if len(items) < 2:
        group.explained, group.score = [], float("-inf")
        return
    first, second = items

    def moved(item: tuple[Segment, float, float, float]) -> float:
        _, x, y, _ = item
        return abs(y / x - 1.0) if x else float("inf")

    target, partner = (first, second) if moved(second) <= moved(first) else (second, first)
    seg, x, y, var = target
    other, px, py, pvar = partner
    g = py / px if px else 1.0
    group.factor = g
    seg.deviation = y - g * x
    other.deviation = 0.0
    spread = math.sqrt(var + ((x / px) ** 2 * pvar if px else 0.0))
    group.explained = [seg]
    group.explained_share = seg.share or 0.0
    group.score = abs(seg.deviation) - NOISE_SIGMAS * spread


def rank_groups(groups: Sequence[Group]) -> list[Group]:
    """Groups by score; a pair of dimensions ahead of one of its single dimensions only when its score
    is at least PAIR_FACTOR times that single's (a pair refines its singles, it does not replace them
    on noise)."""
    singles = {g.dimensions[0]: g for g in groups if len(g.dimensions) == 1}

    def key(g: Group) -> float:
        score = g.score
        if len(g.dimensions) > 1:
            best = max((singles[d].score for d in g.dimensions if d in singles), default=float("-inf"))
            if score < PAIR_FACTOR * best:
                score = min(score, best) - 1e-9  # just behind the single it refines
            elif score > 0:
                # ahead of any other single dimension too only at PAIR_FACTOR times its score: a pair
                # has many more cells, so more room for noise to line up (its own singles: above)
                score = max(score / PAIR_FACTOR, best + 1e-9)
        return -score

    return sorted(groups, key=key)


def rank_contributors(groups: Sequence[Group], limit: int = 10) -> list[Segment]:
    """The ranked contributors: each ranked group's explanatory set in order, then (when fewer than
    `limit`) the remaining supported segments by absolute contribution."""
    out: list[Segment] = []
    seen: set[tuple[tuple[str, ...], tuple[str, ...]]] = set()
    singles = {(s.dimensions[0], s.values[0]): s for g in groups if len(g.dimensions) == 1 for s in g.segments}
    for group in rank_groups(groups):
        parent = _parent(group, singles)
        for seg in [parent] if parent is not None else group.explained:
            key = (seg.dimensions, seg.values)
            if key not in seen:
                seen.add(key)
                out.append(seg)
    rest = sorted(
        (s for g in groups for s in g.segments if s.supported and (s.dimensions, s.values) not in seen),
        key=lambda s: (-abs(s.contribution), s.dimensions, s.values),
    )
    out.extend(rest)
    return out[:limit]


def _parent(group: Group, singles: Mapping[tuple[str, str], Segment]) -> Segment | None:
    """The single segment a pair's explanation refines, when it is the simpler explanation: every
    cell of the pair's set has the same value v of one of its dimensions, and the segment (that
    dimension = v) is supported and explains at least as much of the change (its contribution in
    the change's direction at least the set's). Of two such (a set of one cell), the more surprising
    one. A pair does not beat the single segment it is part of (docs/ai.md, "Ranking")."""
    if len(group.dimensions) < 2 or not group.explained or not group.direction:
        return None
    held = sum(seg.contribution for seg in group.explained) * group.direction
    candidates = []
    for index, dimension in enumerate(group.dimensions):
        values = {seg.values[index] for seg in group.explained}
        single = singles.get((dimension, next(iter(values)))) if len(values) == 1 else None
        if single is not None and single.supported and single.contribution * group.direction >= held:
            candidates.append(single)
    return max(candidates, key=lambda s: (s.surprise, s.dimensions), default=None)


def rank_by_absolute_change(groups: Sequence[Group], metric: MetricType, limit: int = 10) -> list[Segment]:
    """The baseline the benchmark compares against: single-dimension segments by the absolute change
    of their own value (counts: current - baseline; ratios: current rate - baseline rate)."""
    segments = [s for g in groups if len(g.dimensions) == 1 for s in g.segments]

    def change(s: Segment) -> float:
        if s.baseline_value is None or s.current_value is None:
            return 0.0
        return abs(s.current_value - s.baseline_value)

    return sorted(segments, key=lambda s: (-change(s), s.dimensions, s.values))[:limit]


# --- onset ---------------------------------------------------------------------------------------------
def onset_index(values: Sequence[float | None], *, min_size: int = 2) -> int | None:
    """The index where the series' single best least-squares split begins (ruptures' `Binseg` with the
    `l2` cost, one breakpoint, segments of at least `min_size` points); None for fewer than
    2 * min_size points or a flat series. Missing points are carried forward (leading ones backward)."""
    filled: list[float] = []
    last: float | None = None
    for v in values:
        if v is not None and not math.isnan(v):
            last = v
        filled.append(last if last is not None else math.nan)
    first = next((v for v in filled if not math.isnan(v)), None)
    if first is None:
        return None
    filled = [first if math.isnan(v) else v for v in filled]
    if len(filled) < 2 * min_size or max(filled) == min(filled):
        return None
    import numpy as np
    import ruptures

    signal = np.asarray(filled, dtype=float).reshape(-1, 1)
    breaks = ruptures.Binseg(model="l2", min_size=min_size, jump=1).fit(signal).predict(n_bkps=1)
    index = int(breaks[0])
    return index if 0 < index < len(filled) else None
