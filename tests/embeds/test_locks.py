"""`lock_problem`: a query carries every locked filter, or the reason it does not (a kind that takes
no property filters, like restricted SQL, is never answered unfiltered)."""

from __future__ import annotations

from analytics_engine.embeds.schemas import LockedFilters, ViewerFilters
from analytics_engine.embeds.service import EmbedService, lock_problem

ACME = {"key": "company", "operator": "eq", "value": "acme"}
TREND = {"kind": "trends", "series": [{"event": "signup"}], "date_range": {"date_from": "-7d"}}


def test_overrides_carry_the_locks():
    locked = LockedFilters(date_from="-30d", properties=[ACME], timezone="Europe/Oslo")
    viewer = ViewerFilters(properties=[{"key": "plan", "value": "pro"}], interval="week")
    query = EmbedService._insight_query(TREND, locked, viewer)
    assert lock_problem(query, locked) is None
    assert query["interval"] == "week" and query["date_range"] == {"date_from": "-30d"}
    assert {"type": "property", **ACME} in query["filters"] and len(query["filters"]) == 2


def test_a_query_without_the_locks_is_refused():
    locked = LockedFilters(properties=[ACME])
    sql = {"kind": "sql", "sql": "SELECT count() FROM events"}
    assert "locked property filters" in (lock_problem(sql, locked) or "")
    assert "locked cohort" in (lock_problem(TREND, LockedFilters(cohort_id="coh_1")) or "")
    assert "locked period" in (lock_problem(TREND, LockedFilters(date_from="-1d")) or "")
    assert lock_problem(TREND, LockedFilters()) is None
