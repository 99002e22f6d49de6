"""Reading impact inputs from a tenant's events, through `TenantScope` and bound parameters only.

Event and property names come from the tenant's vocabulary (defaults in `Vocabulary`); they are
passed as query parameters (`getSubcolumn(properties, {k:String})`), never spliced into SQL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from analytics_engine.impact.sroi import DimensionStats, Reach, SroiInputs
from analytics_engine.impact.vis import VolunteerActivity, volunteer_activities
from analytics_engine.warehouse.params import utc_text
from analytics_engine.warehouse.scoped import TenantScope

NAME = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:$\-]+$")


class Vocabulary(BaseModel):
    """The default impact event vocabulary; a tenant may remap any name to its own."""

    model_config = ConfigDict(extra="forbid")

    activity_event: str = Field("impact.activity", min_length=1, max_length=200)
    outcome_event: str = Field("impact.outcome", min_length=1, max_length=200)
    cost_event: str = Field("impact.cost", min_length=1, max_length=200)
    hours: str = NAME
    programme: str = NAME
    volunteer_id: str = NAME
    dimension: str = NAME
    score: str = NAME
    phase: str = NAME
    control: str = NAME
    amount: str = NAME
    currency: str = NAME
    phase_baseline: str = Field("baseline", min_length=1, max_length=100)
    phase_post: str = Field("post", min_length=1, max_length=100)
    phase_follow_up: str = Field("follow_up", min_length=1, max_length=100)


DEFAULT_PROPERTY_NAMES = {
    "hours": "hours",
    "programme": "programme",
    "volunteer_id": "volunteer_id",
    "dimension": "dimension",
    "score": "score",
    "phase": "phase",
    "control": "control",
    "amount": "amount",
    "currency": "currency",
}


def default_vocabulary() -> Vocabulary:
    return Vocabulary(**DEFAULT_PROPERTY_NAMES)


def vocabulary_from(mapping: dict[str, Any] | None) -> Vocabulary:
    return Vocabulary(**{**default_vocabulary().model_dump(), **(mapping or {})})


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    programme: str | None = None

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86_400


@dataclass
class SroiData:
    """What SROI reads: per-dimension statistics, reach, costs by currency, volunteer hours."""

    outcomes: dict[str, DimensionStats] = field(default_factory=dict)
    reach: Reach = field(default_factory=Reach)
    costs: dict[str, float] = field(default_factory=dict)
    volunteer_hours: float = 0.0

    def inputs(self, sector: str | None) -> SroiInputs:
        return SroiInputs(self.outcomes, self.reach, self.costs, self.volunteer_hours, sector)


@dataclass
class VisData:
    """What VIS reads: activity per volunteer, and each intervention participant's mean gain."""

    activity: list[tuple[str, float, int, list[str]]] = field(default_factory=list)  # volunteer, hours, sessions, progs
    participants: list[tuple[str, float, str, list[str]]] = field(default_factory=list)  # id, gain, programme, vols

    def volunteer_activities(self) -> list[VolunteerActivity]:
        return volunteer_activities(self.activity, self.participants)


def _prop(key: str) -> str:
    return f"toString(getSubcolumn(properties, {{{key}:String}}))"


def _params(vocab: Vocabulary, window: Window) -> dict[str, Any]:
    return {
        "start": utc_text(window.start),
        "end": utc_text(window.end),
        "k_programme": vocab.programme,
        "programme": window.programme or "",
        "k_dimension": vocab.dimension,
        "k_score": vocab.score,
        "k_phase": vocab.phase,
        "k_control": vocab.control,
        "k_volunteer": vocab.volunteer_id,
        "k_hours": vocab.hours,
        "k_amount": vocab.amount,
        "k_currency": vocab.currency,
        "outcome_event": vocab.outcome_event,
        "activity_event": vocab.activity_event,
        "cost_event": vocab.cost_event,
        "ph_base": vocab.phase_baseline,
        "ph_post": vocab.phase_post,
        "ph_fu": vocab.phase_follow_up,
    }


def _where(event_param: str) -> str:
    return (
        f"tenant_id = {{tenant_id:String}} AND event = {{{event_param}:String}} "
        "AND timestamp >= {start:DateTime64(3, 'UTC')} AND timestamp < {end:DateTime64(3, 'UTC')} "
        f"AND ({{programme:String}} = '' OR {_prop('k_programme')} = {{programme:String}})"
    )


def _per_participant(events: str) -> str:
    """One row per (participant, dimension): control flag, mean score per phase, linked volunteers."""
    return f"""
        SELECT participant, dimension, max(is_control) AS control,
               if(countIf(phase = {{ph_base:String}}) = 0, NULL, avgIf(score, phase = {{ph_base:String}})) AS baseline,
               if(countIf(phase = {{ph_post:String}}) = 0, NULL, avgIf(score, phase = {{ph_post:String}})) AS post,
               if(countIf(phase = {{ph_fu:String}}) = 0, NULL, avgIf(score, phase = {{ph_fu:String}})) AS follow_up,
               baseline IS NOT NULL AND post IS NOT NULL AS measured,
               groupUniqArrayIf(volunteer, volunteer != '') AS volunteers, any(programme) AS programme
        FROM (
            SELECT distinct_id AS participant, {_prop("k_dimension")} AS dimension,
                   toFloat64OrNull({_prop("k_score")}) AS score, {_prop("k_phase")} AS phase,
                   lower({_prop("k_control")}) IN ('true', '1', 'yes') AS is_control,
                   {_prop("k_volunteer")} AS volunteer, {_prop("k_programme")} AS programme
            FROM {events}
            WHERE {_where("outcome_event")}
        )
        WHERE dimension != '' AND score IS NOT NULL AND score >= 0 AND score <= 1
        GROUP BY participant, dimension
    """


def _num(value: Any) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def read_sroi_data(scope: TenantScope, vocab: Vocabulary, window: Window, *, min_gain: float) -> SroiData:
    events = scope.table("events")
    params = {**_params(vocab, window), "min_gain": min_gain}
    i, c, f = "NOT control AND measured", "control AND measured", "NOT control AND measured AND follow_up IS NOT NULL"
    stats_sql = f"""
        SELECT dimension,
               countIf({i}), countIf({c}), countIf({i} AND post - baseline > {{min_gain:Float64}}),
               avgIf(post - baseline, {i}), avgIf(post - baseline, {c}),
               countIf({f}), avgIf(post - baseline, {f}), avgIf(follow_up - baseline, {f}),
               uniqExactIf(participant, measured), uniqExactIf(participant, {c}),
               uniqExactIf(participant, {i}), uniqExactIf(participant, {f})
        FROM ({_per_participant(events)})
        GROUP BY GROUPING SETS ((dimension), ())
        ORDER BY dimension
    """
    data = SroiData()
    for row in scope.query(stats_sql, params).rows:
        dimension, n_i, n_c, quantity, gain, c_gain, n_f, f_post, f_gain, *reach = row
        if dimension == "":  # the grand-total row of GROUPING SETS: distinct participants overall
            data.reach = Reach(*(int(n) for n in reach))
            continue
        data.outcomes[dimension] = DimensionStats(
            int(n_i), int(n_c), int(quantity), _num(gain), _num(c_gain), int(n_f), _num(f_post), _num(f_gain)
        )
    hours_sql = f"""
        SELECT sum(ifNull(toFloat64OrNull({_prop("k_hours")}), 0)) FROM {events} WHERE {_where("activity_event")}
    """
    data.volunteer_hours = float(scope.query(hours_sql, params).scalar() or 0.0)
    cost_sql = f"""
        SELECT upper(if({_prop("k_currency")} = '', 'USD', {_prop("k_currency")})) AS currency,
               sum(ifNull(toFloat64OrNull({_prop("k_amount")}), 0)) AS amount
        FROM {events}
        WHERE {_where("cost_event")}
        GROUP BY currency
    """
    data.costs = {currency: float(amount) for currency, amount in scope.query(cost_sql, params).rows}
    return data


def read_vis_data(scope: TenantScope, vocab: Vocabulary, window: Window) -> VisData:
    events = scope.table("events")
    params = _params(vocab, window)
    activity_sql = f"""
        SELECT if({_prop("k_volunteer")} != '', {_prop("k_volunteer")}, distinct_id) AS volunteer,
               sum(ifNull(toFloat64OrNull({_prop("k_hours")}), 0)) AS hours, count() AS sessions,
               groupUniqArrayIf({_prop("k_programme")}, {_prop("k_programme")} != '') AS programmes
        FROM {events}
        WHERE {_where("activity_event")}
        GROUP BY volunteer
        ORDER BY volunteer
    """
    participants_sql = f"""
        SELECT participant, avg(post - baseline) AS gain, any(programme) AS programme,
               arrayDistinct(arrayFlatten(groupArray(volunteers))) AS volunteers
        FROM ({_per_participant(events)})
        WHERE NOT control AND measured
        GROUP BY participant
        ORDER BY participant
    """
    return VisData(
        activity=[(v, float(h), int(n), sorted(p)) for v, h, n, p in scope.query(activity_sql, params).rows],
        participants=[
            (p, float(g), prog, list(vols)) for p, g, prog, vols in scope.query(participants_sql, params).rows
        ],
    )


def list_programmes(scope: TenantScope, vocab: Vocabulary, window: Window) -> list[str]:
    sql = f"""
        SELECT DISTINCT {_prop("k_programme")} AS programme FROM {scope.table("events")}
        WHERE tenant_id = {{tenant_id:String}} AND event IN ({{a:String}}, {{o:String}}, {{c:String}})
          AND timestamp >= {{start:DateTime64(3, 'UTC')}} AND timestamp < {{end:DateTime64(3, 'UTC')}}
          AND programme != ''
        ORDER BY programme
    """
    params = {
        "k_programme": vocab.programme,
        "a": vocab.activity_event,
        "o": vocab.outcome_event,
        "c": vocab.cost_event,
        "start": utc_text(window.start),
        "end": utc_text(window.end),
    }
    return [row[0] for row in scope.query(sql, params).rows]
