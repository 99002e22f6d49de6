"""The LLM path of /v1/ai/ask against a local scripted OpenAI-compatible server (tests/ai/scripted_llm.py):
tool calls run for the asking tenant only and become evidence; a number no tool produced is sent back
once, then refused; an endpoint that is down, slow, refused by the outgoing guard or answers garbage is
a 502/504 naming the failure, never a 500; the offline parser still answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.ai.scripted_llm import Reply, message, scripted_server, tool_call, tool_results
from tests.conftest import build_settings
from tests.support.factories import events, make_tenant

START = datetime.now(UTC) - timedelta(days=3)
COUNT_SQL = "SELECT count() AS n FROM events WHERE event = 'purchase'"


@pytest.fixture(scope="module")
def llm():
    with scripted_server(lambda body: Reply(500, b"{}")) as server:
        yield server


@pytest.fixture(scope="module")
def settings(tmp_path_factory, warehouse_path, llm):
    return build_settings(
        tmp_path_factory.mktemp("data"),
        warehouse_path,
        ai_url=llm.url,
        ai_key="sk-test",
        ai_model="scripted-1",
        ai_timeout_seconds=1.0,
        outgoing_allow=["127.0.0.1/32"],
    )


@pytest.fixture(scope="module")
def tenants(client, admin_headers):
    a = make_tenant(client, admin_headers, "ai-llm-a")
    b = make_tenant(client, admin_headers, "ai-llm-b")
    a.ingest(events("purchase", 7, users=3, start=START, plan="pro"))
    b.ingest(events("purchase", 3, users=1, start=START, plan="free"))
    return a, b


def sql_then_answer(body):
    results = tool_results(body)
    if not results:
        return message(tool_calls=[tool_call("catalog", {})])
    if len(results) == 1:
        return message(tool_calls=[tool_call("run_sql", {"sql": COUNT_SQL}, "call_2")])
    last = results[-1]
    return message(f"There were {last['result']['rows'][0][0]} [{last['evidence_id']}] purchases.")


def test_tool_calls_become_tenant_bound_evidence(llm, tenants):
    a, b = tenants
    llm.script = sql_then_answer
    llm.requests.clear()
    response = a.post("/v1/ai/ask", json={"question": "How many purchases were there?"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"] == "There were 7 [e2] purchases."
    assert [e["kind"] for e in body["evidence"]] == ["catalog", "sql"]
    assert body["evidence"][1]["query"] == {"sql": COUNT_SQL}
    assert body["evidence"][0]["result"]["events"] == [{"name": "purchase", "volume": 7}]
    assert body["provenance"] == {"model": "scripted-1", "prompt_version": "ai-1", "tools": ["catalog", "run_sql"]}
    assert body["confidence"] == 0.8
    first = llm.requests[0]
    assert first["auth"] == "Bearer sk-test" and first["body"]["model"] == "scripted-1"
    assert {t["function"]["name"] for t in first["body"]["tools"]} == {
        "catalog",
        "run_insight",
        "run_sql",
        "explain_change",
    }
    # the same script for tenant B reads B's rows only
    other = b.post("/v1/ai/ask", json={"question": "How many purchases were there?"}).json()
    assert other["answer"] == "There were 3 [e2] purchases."
    assert b.get(f"/v1/ai/answers/{body['id']}").status_code == 404
    assert a.get(f"/v1/ai/answers/{body['id']}").json()["answer"] == body["answer"]


def test_run_insight_and_explain_tools(llm, tenants):
    a, _ = tenants
    query = {"kind": "trends", "series": [{"event": "purchase"}], "date_range": {"date_from": "-7d"}}

    def script(body):
        results = tool_results(body)
        if not results:
            return message(tool_calls=[tool_call("run_insight", {"query": query})])
        if len(results) == 1:
            period = {"date_from": START.date().isoformat(), "date_to": START.date().isoformat()}
            args = {"metric": {"kind": "trends", "query": {"series": [{"event": "purchase"}]}}, "period": period}
            return message(tool_calls=[tool_call("explain_change", args, "call_2")])
        first = results[0]
        return message(f"Purchases this week: {first['result']['series'][0]['total']:.0f} [{first['evidence_id']}].")

    llm.script = script
    body = a.post("/v1/ai/ask", json={"question": "purchases this week and why they changed"}).json()
    assert body["answer"] == "Purchases this week: 7 [e1]."
    kinds = [e["kind"] for e in body["evidence"]]
    assert kinds[0] == "insight" and "computation" in kinds
    assert body["charts"][0]["evidence_id"] == "e1"


def test_a_number_no_tool_produced_is_sent_back_then_refused(llm, tenants):
    a, _ = tenants

    def liar(body):
        results = tool_results(body)
        if not results:
            return message(tool_calls=[tool_call("run_sql", {"sql": COUNT_SQL})])
        return message(f"There were 4,242 [{results[-1]['evidence_id']}] purchases.")

    llm.script = liar
    llm.requests.clear()
    body = a.post("/v1/ai/ask", json={"question": "How many purchases?"}).json()
    assert body["confidence"] == 0 and body["answer"].startswith("I will not answer this")
    assert "4,242" not in body["answer"]
    correction = llm.requests[-1]["body"]["messages"][-1]
    assert correction["role"] == "user" and "4,242" in correction["content"]

    def corrected(body):
        results = tool_results(body)
        if not results:
            return message(tool_calls=[tool_call("run_sql", {"sql": COUNT_SQL})])
        said = [m for m in body["messages"] if m["role"] == "assistant" and m.get("content")]
        n = 4242 if not said else results[-1]["result"]["rows"][0][0]
        return message(f"There were {n} [{results[-1]['evidence_id']}] purchases.")

    llm.script = corrected
    body = a.post("/v1/ai/ask", json={"question": "How many purchases?"}).json()
    assert body["answer"] == "There were 7 [e1] purchases." and body["confidence"] == 0.6


@pytest.mark.parametrize(
    ("reply", "status", "code"),
    [
        (Reply(200, b"<html>not json</html>"), 502, "ai_bad_response"),
        (Reply(200, b'{"choices": []}'), 502, "ai_bad_response"),
        (Reply(500, b'{"error": "overloaded"}'), 502, "ai_unavailable"),
        (Reply(200, b"{}", delay=2.5), 504, "ai_timeout"),
    ],
)
def test_endpoint_failures_are_502_or_504(llm, tenants, reply, status, code):
    a, _ = tenants
    llm.script = lambda body: reply
    response = a.post("/v1/ai/ask", json={"question": "How many purchases?"})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["details"]["endpoint"] == llm.url
    # the offline parser still answers
    offline = a.post("/v1/ai/ask", json={"question": "How many purchases by plan last 7 days", "offline": True})
    assert offline.status_code == 200 and offline.json()["provenance"]["model"] == "offline-parser"


def test_endpoint_down_or_refused_by_the_guard(llm, tenants, runtime, monkeypatch):
    a, _ = tenants
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    monkeypatch.setattr(runtime.settings, "ai_url", f"http://127.0.0.1:{closed}/v1")
    response = a.post("/v1/ai/ask", json={"question": "How many purchases?"})
    assert response.status_code == 502 and response.json()["error"]["code"] == "ai_unavailable"
    assert "cannot be reached" in response.json()["error"]["message"]

    monkeypatch.setattr(runtime.settings, "ai_url", llm.url)
    monkeypatch.setattr(runtime.settings, "outgoing_allow", [])
    response = a.post("/v1/ai/ask", json={"question": "How many purchases?"})
    assert response.status_code == 502, response.text
    assert "outgoing-HTTP guard" in response.json()["error"]["message"]


def test_a_model_that_never_finishes_or_calls_unknown_tools(llm, tenants):
    a, _ = tenants
    llm.script = lambda body: message(tool_calls=[tool_call("drop_tables", {})])
    response = a.post("/v1/ai/ask", json={"question": "How many purchases?"})
    assert response.status_code == 502 and "within 8 steps" in response.json()["error"]["message"]
    last = llm.requests[-1]["body"]["messages"][-1]
    assert last["role"] == "tool" and "unknown tool" in last["content"]
