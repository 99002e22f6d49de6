"""POST /v1/ai/explain over planted data: a trend whose drop sits in one country, a funnel whose
conversion fell on one plan while another plan's traffic grew (mix), retention that fell for one
browser; every contributor's figures in its evidence; 422s with reasons; tenant-bound evidence."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from analytics_engine.ai.numbers import check_numbers
from analytics_engine.ai.schemas import Evidence

TODAY = datetime.now(UTC).date()
# Two whole weeks (Monday to Sunday) well in the past: baseline then period.
MONDAY = TODAY - timedelta(days=TODAY.weekday()) - timedelta(weeks=5)
BASELINE = {"date_from": MONDAY.isoformat(), "date_to": (MONDAY + timedelta(days=6)).isoformat()}
PERIOD = {
    "date_from": (MONDAY + timedelta(days=7)).isoformat(),
    "date_to": (MONDAY + timedelta(days=13)).isoformat(),
}
COUNTRIES = ("US", "GB", "DE", "FR")
PLANS = ("free", "pro")
BROWSERS = ("Chrome", "Safari", "Firefox")


def _at(day: date, hour: int) -> str:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC).isoformat()


def _events() -> list[dict[str, object]]:
    rng = random.Random(5)
    rows: list[dict[str, object]] = []
    n = 0
    for week in (0, 1):
        for day_offset in range(7):
            day = MONDAY + timedelta(days=7 * week + day_offset)
            for _ in range(60):
                n += 1
                country = rng.choice(COUNTRIES)
                plan = "pro" if rng.random() < (0.3 if week == 0 else 0.5) else "free"  # mix shift
                browser = rng.choice(BROWSERS)
                user = f"u{n}"
                props = {"country": country, "plan": plan, "browser": browser}
                rows.append({"event": "signup", "distinct_id": user, "timestamp": _at(day, 9), "properties": props})
                # Purchases: DE drops to a fifth in the period (the planted trend cause; plan's mix
                # shift above is a decoy: purchases do not depend on the plan).
                buy = 0.6 if not (week == 1 and country == "DE") else 0.12
                if rng.random() < buy:
                    rows.append(
                        {"event": "purchase", "distinct_id": user, "timestamp": _at(day, 10), "properties": props}
                    )
                # Funnel signup -> checkout: free users convert at a third of the rate in the period
                # (rate effect); pro converts better than free (so the mix shift to pro is a mix effect).
                checkout = 0.7 if plan == "pro" else (0.4 if week == 0 else 0.13)
                if rng.random() < checkout:
                    rows.append(
                        {"event": "checkout", "distinct_id": user, "timestamp": _at(day, 11), "properties": props}
                    )
                # Retention: Safari users of the period come back far less often the next week.
                back = 0.7 if not (week == 1 and browser == "Safari") else 0.1
                if rng.random() < back:
                    rows.append(
                        {
                            "event": "pageview",
                            "distinct_id": user,
                            "timestamp": _at(day + timedelta(days=8), 12),
                            "properties": props,
                        }
                    )
    return rows


@pytest.fixture(scope="module")
def tenant(client, admin_headers):
    from tests.support.factories import make_tenant

    handle = make_tenant(client, admin_headers, "ai-explain")
    rows = _events()
    for start in range(0, len(rows), 1000):
        handle.ingest(rows[start : start + 1000])
    return handle


def _explain(tenant, **body):
    payload = {"period": PERIOD, "baseline": BASELINE, **body}
    return tenant.post("/v1/ai/explain", json=payload)


def _evidence_numbers(body):
    evidence = [Evidence.model_validate(e) for e in body["evidence"]]
    assert not check_numbers(body["summary"], evidence), body["summary"]
    return evidence


def test_trend_drop_is_explained_by_the_country(tenant):
    response = _explain(
        tenant,
        metric={"kind": "trends", "query": {"kind": "trends", "series": [{"event": "purchase"}]}},
        # (plan's two-value mix shift also moves purchase counts per plan: a genuine second story for a
        # count, left out here; tests/ai/test_decompose.py and `bench explain` cover decoys)
        dimensions=["country", "browser"],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["metric_type"] == "count"
    assert body["change"]["absolute"] < 0
    top = body["contributors"][0]
    assert (top["dimension"], top["value"]) == ("country", "DE"), body["contributors"][:3]
    assert top["contribution"] < 0
    # The contributor's figures are in the evidence it cites, which names its inputs (insight queries).
    computed = next(e for e in body["evidence"] if e["id"] == top["evidence_id"])
    assert computed["kind"] == "computation"
    assert computed["result"]["contributors"][0]["value"] == "DE"
    inputs = [e for e in body["evidence"] if e["id"] in computed["query"]["inputs"]]
    assert inputs and all(e["kind"] == "insight" and e["query"]["kind"] == "trends" for e in inputs)
    # counts add up: the dimension's figures are a pair's cells summed over the other dimension
    pair = [e for e in inputs if e["query"].get("breakdown") == ["country", "browser"]]
    assert len(pair) == 2
    de = sorted(sum(row[2] for row in e["result"]["rows"] if row[0] == "DE") for e in pair)
    assert de == sorted([top["current_value"], top["baseline_value"]])
    _evidence_numbers(body)
    assert 'country = "DE"' in body["summary"]


def test_funnel_conversion_separates_rate_from_mix(tenant):
    response = _explain(
        tenant,
        metric={
            "kind": "funnels",
            "query": {"kind": "funnels", "steps": [{"event": "signup"}, {"event": "checkout"}]},
        },
        dimensions=["plan", "browser"],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["metric_type"] == "ratio"
    top = body["contributors"][0]
    assert (top["dimension"], top["value"]) == ("plan", "free"), body["contributors"][:3]
    assert top["rate_effect"] < 0 and top["mix_effect"] is not None
    pro = next(c for c in body["contributors"] if c["dimension"] == "plan" and c["value"] == "pro")
    assert pro["mix_effect"] > 0  # pro's weight grew and pro converts above average
    _evidence_numbers(body)


def test_retention_drop_points_at_the_browser(tenant):
    response = _explain(
        tenant,
        metric={"kind": "retention", "query": {"kind": "retention", "period": "week", "periods": 2}},
        dimensions=["browser", "country"],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["change"]["absolute"] < 0
    top = body["contributors"][0]
    assert (top["dimension"], top["value"]) == ("browser", "Safari"), body["contributors"][:3]
    assert top["rate_effect"] < 0
    _evidence_numbers(body)


def test_default_dimensions_and_baseline(tenant):
    response = tenant.post(
        "/v1/ai/explain",
        json={"metric": {"kind": "trends", "query": {"series": [{"event": "purchase"}]}}, "period": PERIOD},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["baseline"] == BASELINE  # the same number of days just before
    assert set(body["dimensions"]) >= {"country", "plan", "browser"}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"metric": {"kind": "trends", "query": {"series": [{"event": "nope"}]}}}, "unknown_metric"),
        ({"metric_id": "mt_missing"}, "unknown_metric"),
        (
            {"metric": {"kind": "trends", "query": {"series": [{"event": "purchase"}]}}, "dimensions": ["shoe_size"]},
            "unknown_dimension",
        ),
        (
            {
                "metric": {"kind": "trends", "query": {"series": [{"event": "purchase"}]}},
                "baseline": {"date_from": PERIOD["date_from"], "date_to": PERIOD["date_to"]},
            },
            "overlapping_periods",
        ),
    ],
)
def test_bad_input_is_422_with_the_reason(tenant, body, code):
    payload = {"period": PERIOD, "baseline": BASELINE, **body}
    response = tenant.post("/v1/ai/explain", json=payload)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]


def test_another_tenant_sees_none_of_it(tenant, new_tenant):
    other = new_tenant()
    body = {
        "metric": {"kind": "trends", "query": {"series": [{"event": "purchase"}]}},
        "period": PERIOD,
        "baseline": BASELINE,
        "dimensions": ["country"],
    }
    # the other tenant never sent 'purchase' or 'country': refused, nothing of tenant A is read
    response = other.post("/v1/ai/explain", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_metric"
    # with the same names, its explanation holds its own figures only
    day = date.fromisoformat(PERIOD["date_from"])
    other.ingest(
        [
            {"event": "purchase", "distinct_id": f"b{i}", "timestamp": _at(day, 10), "properties": {"country": "DE"}}
            for i in range(5)
        ]
    )
    explained = other.post("/v1/ai/explain", json=body)
    assert explained.status_code == 200, explained.text
    result = explained.json()
    assert result["change"] == {"baseline": 0.0, "current": 5.0, "absolute": 5.0, "relative": None}
    rows = [
        row
        for e in result["evidence"]
        if e["kind"] == "insight" and "rows" in e["result"]
        for row in e["result"]["rows"]
    ]
    by_country = [row for row in rows if len(row) == 3]
    assert by_country == [["DE", 5.0, 0.0]]  # the period's; the baseline has no rows
    assert sorted(row[0] for row in rows if len(row) == 2) == [0.0, 5.0]  # the totals
