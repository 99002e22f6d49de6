"""The optional LLM path of `/v1/ai/ask`: any OpenAI-compatible chat completions endpoint with tool
calling (docs/ai.md, "With a language model").

Tools: `catalog` (events, properties, saved metrics, SQL tables), `run_insight` (the typed insight
registry), `run_sql` (the restricted SQL guard) and `explain_change` (the offline explainer). Every
tool result is an evidence entry; the model is told to put `[eN]` after every number. The final text
goes through the number check (ai/numbers.py): on a failure the model is asked once to answer again,
then the answer is refused. Calls go through the outgoing-HTTP guard (net/guard.py). An endpoint that
cannot be reached, answers an HTTP error or something that is not a chat completion is a 502
(`ai_unavailable`, `ai_bad_response`); one that does not answer in `ANALYTICS_AI_TIMEOUT_SECONDS`
a 504 (`ai_timeout`). Never a 500.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx
import structlog

from analytics_engine.ai.answers import REFUSAL
from analytics_engine.ai.explain import EvidenceLog
from analytics_engine.ai.numbers import check_numbers
from analytics_engine.ai.schemas import ExplainRequest
from analytics_engine.errors import AppError
from analytics_engine.insights.context import RunContext
from analytics_engine.insights.registry import parse_query, run
from analytics_engine.net import UrlNotAllowed, outgoing_client

if TYPE_CHECKING:
    from analytics_engine.ai.service import AIService
    from analytics_engine.config import Settings
    from analytics_engine.runtime import Runtime

log = structlog.get_logger(__name__)

TOOL_NAMES = ["catalog", "run_insight", "run_sql", "explain_change"]
SQL_ROWS = 200
FIRST_TRY_CONFIDENCE = 0.8
RETRY_CONFIDENCE = 0.6
SYSTEM_PROMPT = (
    "You answer questions about one product's analytics data. Use the tools to look at the catalog, run "
    "insight queries (trends, funnels, retention), run read-only SQL over the tenant's tables and explain "
    "changes. Every tool result carries an evidence_id such as e3. In your final answer, write every number "
    "exactly as it appears in a tool result (ratios may be written as percentages) and put the evidence id "
    "in brackets right after it, like 41.2% [e3]. State no number that no tool returned. Write dates as "
    "YYYY-MM-DD and names of segments (property values) in double quotes. Be brief."
)


class AiUnavailable(AppError):
    status_code = 502
    code = "ai_unavailable"


class AiBadResponse(AppError):
    status_code = 502
    code = "ai_bad_response"


class AiTimeout(AppError):
    status_code = 504
    code = "ai_timeout"


def llm_configured(settings: Settings) -> bool:
    return bool(settings.ai_url)


def tool_specs() -> list[dict[str, Any]]:
    def fn(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": name,
                "description": description,
                "parameters": {"type": "object", "properties": properties, "required": required},
            },
        }

    period = {
        "type": "object",
        "properties": {"date_from": {"type": "string"}, "date_to": {"type": "string"}},
        "required": ["date_from", "date_to"],
    }
    return [
        fn("catalog", "Event names, property keys, saved metrics and SQL tables of this tenant.", {}, []),
        fn(
            "run_insight",
            "Run an insight query (kind trends, funnels, retention or engagement; docs/insights.md).",
            {"query": {"type": "object"}},
            ["query"],
        ),
        fn(
            "run_sql",
            "Run one read-only SELECT over the tenant's tables (events, persons, ...).",
            {"sql": {"type": "string"}},
            ["sql"],
        ),
        fn(
            "explain_change",
            "Explain why a metric changed between a baseline and a period, by dimension.",
            {
                "metric": {"type": "object", "description": '{"kind": "trends|funnels|retention", "query": {...}}'},
                "period": period,
                "baseline": period,
                "dimensions": {"type": "array", "items": {"type": "string"}},
            },
            ["metric", "period"],
        ),
    ]


class LlmAgent:
    def __init__(self, runtime: Runtime, service: AIService) -> None:
        self.runtime = runtime
        self.service = service
        self.settings = runtime.settings

    # --- the endpoint --------------------------------------------------------------------------------
    def _call(self, client: httpx.Client, messages: list[dict[str, Any]]) -> dict[str, Any]:
        url = f"{(self.settings.ai_url or '').rstrip('/')}/chat/completions"
        headers = {"Authorization": f"Bearer {self.settings.ai_key}"} if self.settings.ai_key else {}
        body = {
            "model": self.settings.ai_model,
            "messages": messages,
            "tools": tool_specs(),
            "tool_choice": "auto",
            "temperature": 0,
        }
        try:
            response = client.post(url, json=body, headers=headers)
        except httpx.TimeoutException:
            raise AiTimeout(
                f"the AI endpoint did not answer within {self.settings.ai_timeout_seconds:g} s",
                details={"endpoint": self.settings.ai_url},
            ) from None
        except UrlNotAllowed as exc:
            raise AiUnavailable(
                f"the AI endpoint's address is refused by the outgoing-HTTP guard: {exc.message}",
                details={"endpoint": self.settings.ai_url},
            ) from None
        except httpx.HTTPError as exc:
            raise AiUnavailable(
                f"the AI endpoint cannot be reached: {type(exc).__name__}: {str(exc)[:200]}",
                details={"endpoint": self.settings.ai_url},
            ) from None
        if response.status_code >= 400:
            raise AiUnavailable(
                f"the AI endpoint answered HTTP {response.status_code}",
                details={"endpoint": self.settings.ai_url, "status": response.status_code, "body": response.text[:300]},
            )
        try:
            data = response.json()
            message = data["choices"][0]["message"]
            if not isinstance(message, dict):
                raise TypeError("message is not an object")
            return message
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise AiBadResponse(
                f"the AI endpoint's answer is not a chat completion ({type(exc).__name__})",
                details={"endpoint": self.settings.ai_url, "body": response.text[:300]},
            ) from None

    # --- tools ---------------------------------------------------------------------------------------
    def run_tool(self, tenant: Any, name: str, args: dict[str, Any], log: EvidenceLog) -> dict[str, Any]:
        try:
            if name == "catalog":
                return self._catalog(tenant, log)
            if name == "run_insight":
                model: Any = parse_query(args.get("query") or {})
                result = run(RunContext(self.runtime, tenant), model).model_dump(mode="json")
                for key in ("timing", "computed_at", "cached"):
                    result.pop(key, None)
                query = model.model_dump(mode="json", exclude_none=True)
                return {"evidence_id": log.add("insight", query, result), "result": result}
            if name == "run_sql":
                from analytics_engine.query.service import run_restricted_sql

                sql = str(args.get("sql") or "")
                answer = run_restricted_sql(self.runtime, tenant, sql, SQL_ROWS)
                result = {
                    "columns": [c.name for c in answer.columns],
                    "rows": answer.rows,
                    "truncated": answer.truncated,
                }
                return {"evidence_id": log.add("sql", {"sql": sql}, result), "result": result}
            if name == "explain_change":
                request = ExplainRequest.model_validate(args)
                explained = self.service.explainer.explain(tenant, request, log)
                computed = explained.evidence[-1]
                return {"evidence_id": computed.id, "summary": explained.summary, "result": computed.result}
        except AppError as exc:
            return {"error": exc.message}
        except ValueError as exc:  # pydantic validation of the tool's arguments
            return {"error": str(exc)[:500]}
        return {"error": f"unknown tool {name!r}; the tools are {', '.join(TOOL_NAMES)}"}

    def _catalog(self, tenant: Any, log: EvidenceLog) -> dict[str, Any]:
        from analytics_engine.query.service import catalogue_for

        taxonomy = self.runtime.taxonomy.get(tenant.tenant_id)
        metrics = self.runtime.metrics.list(tenant.tenant_id, include_deprecated=False)
        tables = sorted(catalogue_for(self.runtime, tenant).tables)
        result = {
            "events": [{"name": e.name, "volume": e.volume} for e in taxonomy.events[:100]],
            "properties": [{"key": p.key, "type": p.type} for p in taxonomy.properties[:200]],
            "metrics": [{"id": m.id, "name": m.name, "kind": m.definition.query.get("kind")} for m in metrics[:100]],
            "sql_tables": tables,
        }
        return {"evidence_id": log.add("catalog", {"tool": "catalog"}, result), "result": result}

    # --- the loop ------------------------------------------------------------------------------------
    def answer(self, tenant: Any, question: str) -> dict[str, Any]:
        log = EvidenceLog()
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": question},
        ]
        used: list[str] = []
        retried = False
        with outgoing_client(self.settings.outgoing_allow, timeout=self.settings.ai_timeout_seconds) as client:
            for _ in range(self.settings.ai_max_steps):
                message = self._call(client, messages)
                calls = message.get("tool_calls") or []
                if calls:
                    messages.append({"role": "assistant", "content": message.get("content"), "tool_calls": calls})
                    for call in calls:
                        try:
                            name = str(call["function"]["name"])
                            raw = call["function"].get("arguments") or "{}"
                            args = json.loads(raw) if isinstance(raw, str) else dict(raw)
                            call_id = str(call.get("id") or name)
                        except (KeyError, TypeError, ValueError):
                            raise AiBadResponse(
                                "the AI endpoint sent a malformed tool call", details={"endpoint": self.settings.ai_url}
                            ) from None
                        used.append(name)
                        output = self.run_tool(tenant, name, args if isinstance(args, dict) else {}, log)
                        messages.append(
                            {
                                "role": "tool",
                                "tool_call_id": call_id,
                                "content": json.dumps(output, default=str)[:20000],
                            }
                        )
                    continue
                content = message.get("content")
                if not isinstance(content, str) or not content.strip():
                    raise AiBadResponse(
                        "the AI endpoint answered with neither text nor tool calls",
                        details={"endpoint": self.settings.ai_url},
                    )
                problems = check_numbers(content, log.items)
                if not problems:
                    return self._result(content, log, used, RETRY_CONFIDENCE if retried else FIRST_TRY_CONFIDENCE)
                if retried:
                    log_problems = [f"{p.text}: {p.reason}" for p in problems]
                    log.add("computation", {"rule": "number check (docs/ai.md)"}, {"refused": log_problems})
                    return self._result(REFUSAL, log, used, 0.0)
                retried = True
                messages.append({"role": "assistant", "content": content})
                messages.append(
                    {
                        "role": "user",
                        "content": "These numbers are not in the cited tool results: "
                        + "; ".join(f"{p.text} ({p.reason})" for p in problems[:10])
                        + ". Answer again; write only numbers from tool results, each followed by its [eN].",
                    }
                )
        raise AiBadResponse(
            f"the AI endpoint did not give a final answer within {self.settings.ai_max_steps} steps",
            details={"endpoint": self.settings.ai_url},
        )

    def _result(self, text: str, log: EvidenceLog, used: list[str], confidence: float) -> dict[str, Any]:
        charts = [
            {"type": "insight", "evidence_id": e.id, "query": e.query, "result": e.result}
            for e in log.items
            if e.kind == "insight"
        ]
        return {
            "answer": text,
            "understood": True,
            "charts": charts,
            "evidence": list(log.items),
            "confidence": confidence,
            "model": self.settings.ai_model,
            "tools": list(dict.fromkeys(used)),
        }
