"""`/v1/ai/ask` and the stored answers (docs/ai.md): the offline parser's answers, the LLM's when one
is configured, the number check on every answer, and feedback."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from analytics_engine.ai.answers import REFUSAL, fmt_count, fmt_pct, fmt_points, fmt_value, quoted
from analytics_engine.ai.explain import EvidenceLog, ExplainService, _rows, metric_type
from analytics_engine.ai.models import AiAnswer
from analytics_engine.ai.numbers import check_numbers
from analytics_engine.ai.parser import NotUnderstood, Parsed, Vocabulary, parse_question
from analytics_engine.ai.schemas import (
    AskRequest,
    AskResponse,
    Evidence,
    ExplainRequest,
    Feedback,
    MetricSpec,
    Period,
    Provenance,
)
from analytics_engine.errors import InvalidInput, NotFound
from analytics_engine.insights.context import RunContext
from analytics_engine.insights.dates import add_months
from analytics_engine.insights.registry import parse_query, run
from analytics_engine.metadata.models import utcnow

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime

PROMPT_VERSION = "ai-1"
OFFLINE_MODEL = "offline-parser"
OFFLINE_TOOLS = ["catalog", "run_insight", "explain_change"]
HOW_MANY_TOP = 5


def previous_baseline(period: Period) -> Period:
    """A period starting on the 1st and ending in the same month has the whole month before as its
    baseline; any other period the same number of days just before it."""
    first = period.date_from
    if first.day == 1 and (period.date_to.year, period.date_to.month) == (first.year, first.month):
        return Period(date_from=add_months(first, -1), date_to=first - timedelta(days=1))
    end = period.date_from - timedelta(days=1)
    return Period(date_from=end - timedelta(days=period.days - 1), date_to=end)


class AIService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.explainer = ExplainService(runtime)

    # --- helpers ----------------------------------------------------------------------------------
    def vocabulary(self, tenant_id: str) -> Vocabulary:
        taxonomy = self.runtime.taxonomy.get(tenant_id)
        return Vocabulary([e.name for e in taxonomy.events], [p.key for p in taxonomy.properties])

    def today(self, tenant: Any) -> date:
        return datetime.now(ZoneInfo(getattr(tenant, "timezone", None) or "UTC")).date()

    def measure(
        self, tenant: Any, spec: MetricSpec, period: Period, log: EvidenceLog, breakdown: str | None = None
    ) -> tuple[dict[tuple[str, ...], tuple[float, float]], str, dict[str, Any]]:
        """One insight run of the metric over `period` (optionally broken down); its rows and evidence id."""
        query = {
            **spec.query,
            "kind": spec.kind,
            "date_range": {"date_from": period.date_from.isoformat(), "date_to": period.date_to.isoformat()},
        }
        if breakdown:
            query["breakdown"] = [breakdown]
            query["breakdown_limit"] = 20
        model: Any = parse_query(query)
        result = run(RunContext(self.runtime, tenant), model)
        rows = _rows(spec.kind, result, 1)
        mtype = metric_type(spec.kind, query)
        table = []
        for key, (num, den) in sorted(rows.items(), key=lambda kv: -kv[1][0]):
            value = num if mtype == "count" else (num / den if den else None)
            table.append({"segment": list(key), "value": value, "numerator": num, "denominator": den})
        evidence_id = log.add("insight", model.model_dump(mode="json", exclude_none=True), {"rows": table})
        return rows, evidence_id, {"query": query, "result": result.model_dump(mode="json")}

    # --- the offline path -------------------------------------------------------------------------
    def answer_offline(self, tenant: Any, parsed: Parsed, log: EvidenceLog) -> tuple[str, list[dict[str, Any]], float]:
        spec = parsed.metric
        mtype = metric_type(spec.kind, spec.query)
        ratio = mtype == "ratio"
        if parsed.intent == "why":
            response = self.explainer.explain(
                tenant,
                ExplainRequest(metric=spec, period=parsed.period, baseline=previous_baseline(parsed.period)),
                log,
            )
            explained = sum(max(0.0, c.share or 0.0) for c in response.contributors[:3])
            onset = next((e for e in response.evidence if e.result.get("points") is not None), None)
            charts = (
                [{"type": "line", "evidence_id": onset.id, "query": onset.query, "result": onset.result}]
                if onset
                else []
            )
            return response.summary, charts, round(min(1.0, explained), 2)
        if parsed.intent == "how_many":
            rows, ref, chart = self.measure(tenant, spec, parsed.period, log, parsed.dimension)
            total_rows, total_ref, _ = self.measure(tenant, spec, parsed.period, log)
            value = _value(total_rows, mtype)
            ordered = sorted(rows.items(), key=lambda kv: -_value({kv[0]: kv[1]}, mtype))
            parts = [
                f"{quoted(key[0]) if key else '(none)'}: {fmt_value(_value({key: fig}, mtype), ratio)} [{ref}]"
                for key, fig in ordered[:HOW_MANY_TOP]
            ]
            text = (
                f"{parsed.label.capitalize()} from {parsed.period.date_from} to {parsed.period.date_to}: "
                f"{fmt_value(value, ratio)} [{total_ref}] in all. By {parsed.dimension}: " + "; ".join(parts) + "."
            )
            return text, [{"type": "bar", "evidence_id": ref, **chart}], 1.0
        assert parsed.second is not None
        first_rows, first_ref, _ = self.measure(tenant, spec, parsed.period, log)
        second_rows, second_ref, _ = self.measure(tenant, spec, parsed.second, log)
        a, b = _value(first_rows, mtype), _value(second_rows, mtype)
        absolute = b - a
        relative = absolute / a if a else None
        ref = log.add(
            "computation",
            {"rule": "change = second - first; relative = change / first", "inputs": [first_ref, second_ref]},
            {"first": a, "second": b, "absolute": absolute, "relative": relative},
        )
        direction = "up" if absolute > 0 else "down" if absolute < 0 else "unchanged"
        amount = fmt_points(absolute) if ratio else fmt_count(abs(absolute))
        text = (
            f"{parsed.label.capitalize()}: {fmt_value(a, ratio)} [{first_ref}] from {parsed.period.date_from} "
            f"to {parsed.period.date_to}, {fmt_value(b, ratio)} [{second_ref}] from {parsed.second.date_from} "
            f"to {parsed.second.date_to}; {direction}"
        )
        if absolute:
            text += f" by {amount} [{ref}]"
            if relative is not None:
                text += f" ({fmt_pct(relative)} [{ref}])"
        return text + ".", [], 1.0

    # --- the one entry point ---------------------------------------------------------------------
    def ask(self, tenant: Any, request: AskRequest) -> AskResponse:
        from analytics_engine.ai.llm import llm_configured

        if llm_configured(self.runtime.settings) and not request.offline:
            from analytics_engine.ai.llm import LlmAgent

            answer = LlmAgent(self.runtime, self).answer(tenant, request.question)
            return self.store(tenant, request.question, **answer)
        log = EvidenceLog()
        try:
            parsed = parse_question(request.question, self.vocabulary(tenant.tenant_id), self.today(tenant))
        except NotUnderstood as exc:
            return self._not_understood(tenant, request.question, str(exc))
        try:
            text, charts, confidence = self.answer_offline(tenant, parsed, log)
        except InvalidInput as exc:  # parsed, but the data cannot answer it (no dimensions to explain by...)
            return self._not_understood(tenant, request.question, exc.message)
        if check_numbers(text, log.items):
            text, confidence = REFUSAL, 0.0
        return self.store(
            tenant,
            request.question,
            answer=text,
            understood=True,
            charts=charts,
            evidence=log.items,
            confidence=confidence,
            model=OFFLINE_MODEL,
            tools=OFFLINE_TOOLS,
        )

    def _not_understood(self, tenant: Any, question: str, reason: str) -> AskResponse:
        text = (
            f"I could not parse this question: {reason}. Without a language model I answer 'why did X change "
            "in P', 'how many X by Y in P' and 'compare X between P1 and P2'."
        )
        return self.store(
            tenant,
            question,
            answer=text,
            understood=False,
            charts=[],
            evidence=[],
            confidence=0.0,
            model=OFFLINE_MODEL,
            tools=[],
        )

    # --- storage -----------------------------------------------------------------------------------
    def store(
        self,
        tenant: Any,
        question: str,
        *,
        answer: str,
        understood: bool,
        charts: list[dict[str, Any]],
        evidence: list[Evidence],
        confidence: float,
        model: str,
        tools: list[str],
    ) -> AskResponse:
        created = datetime.now(UTC)
        body = AskResponse(
            id="",
            question=question,
            answer=answer,
            understood=understood,
            charts=charts,
            evidence=evidence,
            confidence=confidence,
            provenance=Provenance(model=model, prompt_version=PROMPT_VERSION, tools=tools),
            created_at=created,
        )
        with self.runtime.metadata.session() as session:
            row = AiAnswer(
                tenant_id=tenant.tenant_id,
                question=question,
                answer=answer,
                body={},
                confidence=confidence,
                model=model,
                prompt_version=PROMPT_VERSION,
                created_at=created,
            )
            session.add(row)
            session.flush()
            body.id = row.id
            row.body = body.model_dump(mode="json")
        return body

    def _public(self, row: AiAnswer) -> AskResponse:
        body = AskResponse.model_validate(row.body)
        if row.useful is not None:
            body.feedback = {
                "useful": row.useful,
                "comment": row.feedback_comment or "",
                "at": row.feedback_at.isoformat() if row.feedback_at else None,
            }
        return body

    def list(self, tenant_id: str, limit: int = 50) -> list[AskResponse]:
        with self.runtime.metadata.session() as session:
            rows = session.scalars(
                select(AiAnswer)
                .where(AiAnswer.tenant_id == tenant_id)
                .order_by(AiAnswer.created_at.desc(), AiAnswer.id.desc())
                .limit(limit)
            ).all()
            return [self._public(row) for row in rows]

    def _owned(self, session: Any, tenant_id: str, answer_id: str) -> AiAnswer:
        row = session.scalars(
            select(AiAnswer).where(AiAnswer.id == answer_id, AiAnswer.tenant_id == tenant_id)
        ).one_or_none()
        if row is None:
            raise NotFound(f"No answer {answer_id!r} for this tenant.")
        return row  # type: ignore[no-any-return]

    def get(self, tenant_id: str, answer_id: str) -> AskResponse:
        with self.runtime.metadata.session() as session:
            return self._public(self._owned(session, tenant_id, answer_id))

    def feedback(self, tenant_id: str, answer_id: str, body: Feedback) -> AskResponse:
        with self.runtime.metadata.session() as session:
            row = self._owned(session, tenant_id, answer_id)
            row.useful = body.useful
            row.feedback_comment = body.comment
            row.feedback_at = utcnow()
            session.flush()
            return self._public(row)


def _value(rows: dict[tuple[str, ...], tuple[float, float]], mtype: str) -> float:
    num = sum(n for n, _ in rows.values())
    den = sum(d for _, d in rows.values())
    if mtype == "count":
        return num
    return num / den if den else 0.0
