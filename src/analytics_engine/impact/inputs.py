"""Reading impact inputs from a tenant's events, through `TenantScope` and bound parameters only.

Event and property names come from the tenant's vocabulary (defaults in `Vocabulary`); they are
passed as query parameters (`getSubcolumn(properties, {k:String})`), never spliced into SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from statistics import fmean
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from analytics_engine.impact.sroi import ParticipantScores, SroiInputs
from analytics_engine.impact.vis import VolunteerActivity
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
class ImpactData:
    """Everything one SROI and VIS computation needs, read once."""

    outcomes: dict[str, list[ParticipantScores]] = field(default_factory=dict)
    links: dict[str, set[str]] = field(default_factory=dict)  # volunteer -> participants
    participant_programme: dict[str, str] = field(default_factory=dict)
    costs: dict[str, float] = field(default_factory=dict)
    # (volunteer, hours, sessions, programmes)
    activity: list[tuple[str, float, int, list[str]]] = field(default_factory=list)

    @property
    def volunteer_hours(self) -> float:
        return sum(hours for _, hours, _, _ in self.activity)

    def sroi_inputs(self, sector: str | None) -> SroiInputs:
        return SroiInputs(outcomes=self.outcomes, costs=self.costs, volunteer_hours=self.volunteer_hours, sector=sector)

    def _gains(self) -> dict[str, float]:
        """Each intervention participant's mean gain (post - baseline) across dimensions."""
        per: dict[str, list[float]] = {}
        for rows in self.outcomes.values():
            for r in rows:
                if not r.control and r.baseline is not None and r.post is not None:
                    per.setdefault(r.participant, []).append(r.post - r.baseline)
        return {p: fmean(g) for p, g in per.items()}

    def volunteer_activities(self) -> list[VolunteerActivity]:
        gains = self._gains()
        by_programme: dict[str, list[float]] = {}
        for participant, gain in gains.items():
            by_programme.setdefault(self.participant_programme.get(participant, ""), []).append(gain)
        overall = fmean(gains.values()) if gains else None
        result = []
        for volunteer, hours, sessions, programmes in self.activity:
            linked = [gains[p] for p in self.links.get(volunteer, ()) if p in gains]
            if linked:
                gain, source = fmean(linked), f"{len(linked)} participants linked to the volunteer"
            else:
                programme_gains = [g for prog in programmes for g in by_programme.get(prog, [])]
                if programme_gains:
                    gain, source = fmean(programme_gains), "participants of the volunteer's programmes"
                elif overall is not None:
                    gain, source = overall, "all participants of the tenant (no linked or programme outcomes)"
                else:
                    gain, source = None, "no outcome data"
            result.append(VolunteerActivity(volunteer, hours, sessions, gain, source))
        return result


class BudgetedScope:
    """The tenant scope under the tenant's query budget: per-query limits as ClickHouse settings,
    and each query's cost added to the tenant's daily usage."""

    def __init__(self, scope: TenantScope, budgets: Any | None) -> None:
        self.scope = scope
        self.budgets = budgets
        self.settings = budgets.query_settings(scope.tenant_id) if budgets is not None else {}

    def query(self, sql: str, params: dict[str, Any]) -> Any:
        result = self.scope.query(sql, params, settings=self.settings)
        if self.budgets is not None:
            self.budgets.record_result(self.scope.tenant_id, result)
        return result

    def table(self, name: str) -> str:
        return self.scope.table(name)


def _prop(key: str) -> str:
    return f"toString(getSubcolumn(properties, {{{key}:String}}))"


def read_impact_data(scope: TenantScope | BudgetedScope, vocab: Vocabulary, window: Window) -> ImpactData:
    events = scope.table("events")
    params: dict[str, Any] = {
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
    where = (
        "tenant_id = {tenant_id:String} AND event = {%s:String} AND timestamp >= {start:DateTime64(3, 'UTC')} "
        "AND timestamp < {end:DateTime64(3, 'UTC')} "
        f"AND ({{programme:String}} = '' OR {_prop('k_programme')} = {{programme:String}})"
    )
    data = ImpactData()
    outcome_sql = f"""
        SELECT participant, dimension, max(is_control) AS control,
               if(countIf(phase = {{ph_base:String}}) = 0, NULL, avgIf(score, phase = {{ph_base:String}})) AS baseline,
               if(countIf(phase = {{ph_post:String}}) = 0, NULL, avgIf(score, phase = {{ph_post:String}})) AS post,
               if(countIf(phase = {{ph_fu:String}}) = 0, NULL, avgIf(score, phase = {{ph_fu:String}})) AS follow_up,
               groupUniqArrayIf(volunteer, volunteer != '') AS volunteers, any(programme) AS programme
        FROM (
            SELECT distinct_id AS participant, {_prop("k_dimension")} AS dimension,
                   toFloat64OrNull({_prop("k_score")}) AS score, {_prop("k_phase")} AS phase,
                   lower({_prop("k_control")}) IN ('true', '1', 'yes') AS is_control,
                   {_prop("k_volunteer")} AS volunteer, {_prop("k_programme")} AS programme
            FROM {events}
            WHERE {where % "outcome_event"}
        )
        WHERE dimension != '' AND score IS NOT NULL AND score >= 0 AND score <= 1
        GROUP BY participant, dimension
        ORDER BY dimension, participant
    """
    for participant, dimension, control, baseline, post, follow_up, volunteers, programme in scope.query(
        outcome_sql, params
    ).rows:
        data.outcomes.setdefault(dimension, []).append(
            ParticipantScores(participant, bool(control), baseline, post, follow_up)
        )
        for volunteer in volunteers:
            data.links.setdefault(volunteer, set()).add(participant)
        if programme:
            data.participant_programme[participant] = programme
    activity_sql = f"""
        SELECT if({_prop("k_volunteer")} != '', {_prop("k_volunteer")}, distinct_id) AS volunteer,
               sum(ifNull(toFloat64OrNull({_prop("k_hours")}), 0)) AS hours, count() AS sessions,
               groupUniqArrayIf({_prop("k_programme")}, {_prop("k_programme")} != '') AS programmes
        FROM {events}
        WHERE {where % "activity_event"}
        GROUP BY volunteer
        ORDER BY volunteer
    """
    data.activity = [(v, float(h), int(s), sorted(p)) for v, h, s, p in scope.query(activity_sql, params).rows]
    cost_sql = f"""
        SELECT upper(if({_prop("k_currency")} = '', 'USD', {_prop("k_currency")})) AS currency,
               sum(ifNull(toFloat64OrNull({_prop("k_amount")}), 0)) AS amount
        FROM {events}
        WHERE {where % "cost_event"}
        GROUP BY currency
    """
    data.costs = {currency: float(amount) for currency, amount in scope.query(cost_sql, params).rows}
    return data


def list_programmes(scope: TenantScope | BudgetedScope, vocab: Vocabulary, window: Window) -> list[str]:
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
