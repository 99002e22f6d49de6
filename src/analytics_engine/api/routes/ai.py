"""AI insights under /v1/ai (docs/ai.md): explain a change offline, ask a question in plain language
(the offline parser, or an OpenAI-compatible endpoint when configured), the stored answers and
feedback on them. Thin: validate, call ai/, shape the answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from analytics_engine.ai.schemas import AnswerList, AskRequest, AskResponse, ExplainRequest, ExplainResponse, Feedback
from analytics_engine.ai.service import AIService
from analytics_engine.api.deps import ReadTenant, RuntimeDep
from analytics_engine.api.openapi import errors

router = APIRouter(prefix="/v1/ai", tags=["ai"])

_EXPLAIN_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "`unknown_metric` (a metric id or event the tenant does not have), `unknown_dimension`, "
        "`overlapping_periods` (the baseline overlaps the period), `unsupported_metric`, `invalid_input`."
    },
    429: {"description": "`budget_exceeded`: over the tenant's query budget."},
}
_ASK_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"description": "`validation_error`: an empty question or one over 500 characters."},
    502: {
        "description": "`ai_unavailable` (the configured AI endpoint cannot be reached, is refused by the "
        "outgoing-HTTP guard or answered an HTTP error) or `ai_bad_response` (its answer is not a chat completion)."
    },
    504: {"description": "`ai_timeout`: the AI endpoint did not answer in time."},
}


@router.post(
    "/explain",
    response_model=ExplainResponse,
    summary="Explain why a metric changed between a baseline and a period",
    responses=_EXPLAIN_ERRORS,
)
def explain(body: ExplainRequest, tenant: ReadTenant, runtime: RuntimeDep) -> ExplainResponse:
    """Decomposes the change of a trend, a funnel's conversion or retention over each dimension and each
    pair of dimensions: every segment's contribution, share of the change (explanatory power), surprise
    (Jensen-Shannon) and, for ratios, mix and rate effects; the contributors ranked as docs/ai.md defines,
    the onset of the shift (ruptures) and a summary. Every figure comes from an evidence entry (the insight
    query and its result). Works without any language model."""
    return AIService(runtime).explainer.explain(tenant, body)


@router.post(
    "/ask",
    response_model=AskResponse,
    summary="Ask a question about the data in plain language",
    responses=_ASK_ERRORS,
)
def ask(body: AskRequest, tenant: ReadTenant, runtime: RuntimeDep) -> AskResponse:
    """Answers with evidence: every number in `answer` is followed by `[eN]`, the id of the evidence entry
    (query and result) it comes from; an answer stating any other number is regenerated once, then refused.
    Without an AI endpoint (or with `offline: true`) the deterministic parser answers 'why did X change in P',
    'how many X by Y in P' and 'compare X between P1 and P2' and says plainly what it could not parse. The
    answer is stored (`GET /v1/ai/answers/{id}`)."""
    return AIService(runtime).ask(tenant, body)


@router.get("/answers", response_model=AnswerList, summary="The tenant's stored answers, newest first")
def list_answers(
    tenant: ReadTenant,
    runtime: RuntimeDep,
    limit: int = Query(50, ge=1, le=500, description="Answers returned at most."),
) -> AnswerList:
    """Every answer of `POST /v1/ai/ask` of this tenant with its evidence and feedback."""
    return AnswerList(answers=AIService(runtime).list(tenant.tenant_id, limit))


@router.get("/answers/{answer_id}", response_model=AskResponse, summary="One stored answer")
def get_answer(answer_id: str, tenant: ReadTenant, runtime: RuntimeDep) -> AskResponse:
    """The answer as it was given, with its evidence and the feedback on it; 404 for another tenant's."""
    return AIService(runtime).get(tenant.tenant_id, answer_id)


@router.post(
    "/answers/{answer_id}/feedback",
    response_model=AskResponse,
    summary="Mark an answer useful or not",
    responses=errors(404),
)
def feedback(answer_id: str, body: Feedback, tenant: ReadTenant, runtime: RuntimeDep) -> AskResponse:
    """Records whether the answer was useful and an optional comment (the latest feedback wins); it feeds
    the evaluation of prompts (docs/ai.md)."""
    return AIService(runtime).feedback(tenant.tenant_id, answer_id, body)
