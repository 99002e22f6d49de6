"""Each tenant's catalogue names only the synced tables that can hold its rows: two tenants, two sync
sources (one per tenant), and a table of another tenant is refused exactly like one that does not exist
on every path (/v1/query, /v1/query/explain, /v1/query/tables, the saved `sql` kind's check)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from analytics_engine.config import Settings
from analytics_engine.insights import registry
from analytics_engine.insights.context import RunContext
from analytics_engine.query.catalogue import CATALOGUES, build_catalogue
from analytics_engine.query.errors import SqlNotAllowed
from analytics_engine.query.service import catalogue_for, run_restricted_sql
from analytics_engine.runtime import Runtime
from tests.conftest import build_settings
from tests.query.support import make_pair, tenant
from tests.support.factories import TenantHandle, make_tenant
from tests.sync.conftest import PgSchema, donations_table, pg, table_source, unique

__all__ = ["pg"]  # the sync tests' throw-away PostgreSQL schema, used here as a fixture

pytestmark = [pytest.mark.postgres, pytest.mark.filterwarnings("ignore")]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, warehouse_path: Path) -> Settings:
    return build_settings(tmp_path_factory.mktemp("data"), warehouse_path, sync_schedule=False)


@pytest.fixture
def synced(
    pg: PgSchema, runtime: Runtime, client: TestClient, admin_headers: dict[str, str]
) -> Iterator[tuple[TenantHandle, TenantHandle, str, str]]:
    """Tenant one owns source `gifts_*` (its one tenant_id); tenant two owns `pledges_*` (tenant_map)."""
    one = make_tenant(client, admin_headers, unique("sql-catalogue-one"))
    two = make_tenant(client, admin_headers, unique("sql-catalogue-two"))
    source = donations_table(pg, rows=200, tenants=2)
    gifts = table_source(unique("gifts"), source, tenant_column=None, tenant_id=one.id)
    pledges = table_source(unique("pledges"), source, tenant_map={"org-1": two.id})
    for spec in (gifts, pledges):
        runtime.sync.registry.create(spec)
        job = runtime.sync.run(spec.name, "backfill")
        assert job.state == "succeeded", job.error
    CATALOGUES.clear()
    yield one, two, gifts.target.table, pledges.target.table  # type: ignore[union-attr]
    CATALOGUES.clear()


def refusal(who: Any, sql: str, runtime: Runtime) -> str:
    with pytest.raises(SqlNotAllowed) as caught:
        run_restricted_sql(runtime, who, sql)
    return caught.value.message


def test_each_tenant_sees_only_its_own_sources(runtime: Runtime, synced: tuple[Any, ...]) -> None:
    one, two, gifts, pledges = synced
    mine, theirs = catalogue_for(runtime, one.id).tables, catalogue_for(runtime, two.id).tables
    assert gifts in mine and pledges not in mine
    assert pledges in theirs and gifts not in theirs
    assert {"events", "persons"} <= set(mine) & set(theirs)
    stranger = catalogue_for(runtime, "tenant-without-sources").tables
    assert gifts not in stranger and pledges not in stranger
    # what each sees in its own table is its own rows
    rows = run_restricted_sql(runtime, one.id, f"SELECT count() FROM {gifts}").rows
    assert rows == [[200]]  # tenant_id: every row of the source is tenant one's
    rows = run_restricted_sql(runtime, two.id, f"SELECT count() FROM {pledges}").rows
    assert rows == [[100]]  # tenant_map: only org-1's rows were copied


def test_another_tenants_table_is_refused_like_an_unknown_one(runtime: Runtime, synced: tuple[Any, ...]) -> None:
    one, _, _, pledges = synced
    made_up = "no_such_table_" + pledges.split("_", 1)[1]  # same length, never created
    for template in (
        "SELECT * FROM {t}",
        "SELECT count() FROM events WHERE distinct_id IN (SELECT note FROM {t})",
        "WITH x AS (SELECT * FROM {t}) SELECT * FROM x",
        "SELECT 1 UNION ALL SELECT count() FROM {t}",
    ):
        real = refusal(one.id, template.format(t=pledges), runtime)
        fake = refusal(one.id, template.format(t=made_up), runtime)
        assert real.replace(pledges, made_up) == fake
        assert pledges not in real.split("(tables:")[1]  # the list of tables does not name it


def test_every_route_hides_the_other_tenants_table(
    runtime: Runtime, synced: tuple[TenantHandle, TenantHandle, str, str]
) -> None:
    one, two, gifts, pledges = synced
    listed = one.client.get("/v1/query/tables", headers=one.headers).json()["tables"]
    names = {table["name"] for table in listed}
    assert gifts in names and pledges not in names
    listed = two.client.get("/v1/query/tables", headers=two.headers).json()["tables"]
    assert pledges in {table["name"] for table in listed} and gifts not in {table["name"] for table in listed}
    for path in ("/v1/query", "/v1/query/explain"):
        real = one.client.post(path, json={"sql": f"SELECT * FROM {pledges}"}, headers=one.headers)
        fake = one.client.post(path, json={"sql": "SELECT * FROM nothing_here"}, headers=one.headers)
        assert real.status_code == fake.status_code == 400
        assert real.json()["error"]["code"] == fake.json()["error"]["code"] == "sql_not_allowed"
        assert real.json()["error"]["message"].replace(pledges, "nothing_here") == fake.json()["error"]["message"]
        mine = one.client.post(path, json={"sql": f"SELECT count() FROM {gifts}"}, headers=one.headers)
        assert mine.status_code == 200, mine.text


def test_saved_sql_insight_uses_the_tenants_catalogue(
    runtime: Runtime, synced: tuple[TenantHandle, TenantHandle, str, str]
) -> None:
    one, _, gifts, pledges = synced
    context = RunContext(runtime, one.id, refresh=True)
    result = registry.run_query(context, {"kind": "sql", "sql": f"SELECT count() AS n FROM {gifts}"})
    assert result.rows == [[200]]  # type: ignore[attr-defined]
    # saving checks what no warehouse is needed for; running checks the tenant's own tables
    with pytest.raises(SqlNotAllowed, match="there is no table"):
        registry.run_query(context, {"kind": "sql", "sql": f"SELECT count() AS n FROM {pledges}"})


def test_undeclared_synced_tables_go_to_the_tenants_holding_rows(runtime: Runtime) -> None:
    pair = make_pair(runtime)  # `donations` has rows of A and B and no declared source
    third = tenant("SQL C")
    assert "donations" in catalogue_for(runtime, pair.a).tables
    assert "donations" in catalogue_for(runtime, pair.b).tables
    assert "donations" not in catalogue_for(runtime, third).tables


def test_a_synced_table_without_owners_is_in_no_view() -> None:
    columns = [("tenant_id", "String"), ("id", "Int64")]
    catalogue = build_catalogue("db", {"t1": ("s1", columns), "t2": ("s2", columns)}, {"t1": frozenset({"a"})})
    assert "t1" in catalogue.for_tenant("a").tables and "t2" not in catalogue.for_tenant("a").tables
    assert "t1" not in catalogue.for_tenant("b").tables
    assert catalogue.for_tenant("a") is catalogue.for_tenant("a")  # one view (and guard memo) per tenant
