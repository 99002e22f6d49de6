"""`sync verify` compares values, not only counts and keys: rows whose values changed in PostgreSQL
without their version column moving past the checkpoint are found, with their keys, and repaired."""

from __future__ import annotations

from decimal import Decimal

import pytest

from analytics_engine.sync import verify
from analytics_engine.sync.spec import SourceSpec
from tests.sync.conftest import DSN, donations_table, table_source, unique

pytestmark = pytest.mark.postgres


def amounts(service, table: str) -> Decimal:
    warehouse = service.runtime.warehouse
    return warehouse.query(f"SELECT sum(amount) FROM {warehouse.table(table)} FINAL").scalar()


def test_stale_row_versions_are_reported_with_their_keys_then_repaired(pg, service, monkeypatch):
    # The case: 50 rows change while their updated_at moves backwards (an earlier
    # transaction that committed later), so no sync reads them again and the warehouse keeps the
    # old values: same rows, same keys, an amount sum off by 174.5.
    # Small leaves, so a differing range is split again (16 x 16 ranges) before keys are listed.
    monkeypatch.setattr(verify, "LEAF_ROWS", 100)
    spec = table_source(unique("stale"), donations_table(pg, rows=5000))
    service.registry.create(spec)
    assert service.run(spec.name, "backfill").state == "succeeded"
    assert service.run(spec.name, "sync").state == "succeeded"
    assert service.verify(spec.name)["match"] is True
    stale = list(range(1000, 1050))
    pg.execute(
        "UPDATE {s}.donations SET amount = amount + 3.49, note = 'late', "
        "updated_at = updated_at - interval '10 minutes' WHERE id = ANY(%s)",
        (stale,),
    )
    assert service.run(spec.name, "sync").state == "succeeded"  # reads nothing of it: behind the overlap
    source_sum = pg.rows("SELECT sum(amount) FROM {s}.donations")[0][0]
    assert source_sum - amounts(service, spec.target.table) == Decimal("174.50")

    report = service.verify(spec.name)
    assert report["match"] is False
    # The old checks alone (rows and key checksum per tenant) still agree: they cannot see it.
    assert all(t["match"] for t in report["tenants"])
    values = report["values"]
    assert values["match"] is False
    assert values["source_rows"] == values["warehouse_rows"] == 5000
    assert values["ranges_compared"] > 16  # split again below the first level
    assert all(r["source_rows"] <= 100 for r in values["differing_ranges"])
    assert values["differing_key_count"] == 50
    keys = [k for r in values["differing_ranges"] for k in r["sample_keys"]]
    assert {k["problem"] for k in keys} == {"values_differ"}
    every = {int(k["key"]) for r in values["differing_ranges"] for k in r["sample_keys"]}
    assert every <= set(stale) and len(values["differing_ranges"]) >= 1
    for diff in values["differing_ranges"]:
        assert diff["from"] <= min(stale) or diff["to"] > min(stale)

    repaired = service.verify(spec.name, repair=True)
    assert repaired["before_repair"]["differing_key_count"] == 50
    assert repaired["repair"]["ranges"] == len(values["differing_ranges"])
    assert repaired["match"] is True, repaired
    assert amounts(service, spec.target.table) == source_sum
    warehouse = service.runtime.warehouse
    notes = warehouse.query(
        f"SELECT count() FROM {warehouse.table(spec.target.table)} FINAL WHERE note = 'late'"
    ).scalar()
    assert notes == 50


def test_a_clean_sync_verifies_match_for_every_type(pg, service):
    pg.execute(
        """CREATE TABLE {s}.kinds (
            id int PRIMARY KEY, org text NOT NULL, flag boolean, small int2, ratio float8, tiny float4,
            exact numeric, money numeric(10,3), code uuid, day date, naive timestamp, stamp timestamptz NOT NULL,
            doc jsonb, label varchar(80), padded char(6), span interval, tags text[], raw bytea, removed boolean)"""
    )
    pg.execute(
        """INSERT INTO {s}.kinds SELECT g, 'tn_' || mod(g, 3), g % 2 = 0, (g % 100) - 50,
             CASE g % 5 WHEN 0 THEN 1e20 WHEN 1 THEN 1e-7 WHEN 2 THEN -0.0 WHEN 3 THEN 0.1 * g ELSE NULL END,
             (g / 3.0)::float4, g / 7.0, (g % 1000) / 8.0, md5(g::text)::uuid, date '2024-02-29' + g,
             timestamp '2024-01-01 10:00:00.123456' + g * interval '1 second', now() - g * interval '1 minute',
             jsonb_build_object('g', g, 's', 'x' || g), E'tab\\there\\nünï ' || g, 'ab', g * interval '1 hour',
             ARRAY['a', 'b ' || g], decode(lpad(to_hex(g), 8, '0'), 'hex'), g % 10 = 0
           FROM generate_series(1, 3000) g"""
    )
    pg.execute("UPDATE {s}.kinds SET label = NULL, doc = NULL WHERE id % 7 = 0")
    spec = SourceSpec.model_validate(
        {
            "name": unique("kinds"),
            "dsn": DSN,
            "table": pg.table("kinds"),
            "tenant_column": "org",
            "cursor": "id",
            "target": {"kind": "table", "table": unique("kinds")},
        }
    )
    service.registry.create(spec)
    assert service.run(spec.name, "backfill").state == "succeeded"
    report = service.verify(spec.name)
    assert report["match"] is True, report["values"]
    assert report["values"]["source_rows"] == 3000 and report["values"]["ranges_compared"] == 16
    # One value changed behind an id cursor (never read again): found, by key.
    pg.execute("UPDATE {s}.kinds SET tiny = 2.5 WHERE id = 2222")
    values = service.verify(spec.name)["values"]
    assert values["match"] is False
    assert values["sample_keys"] == [{"tenant_id": "tn_2", "key": "2222", "problem": "values_differ"}]


def test_text_keys_are_ranged_bytewise_on_both_sides(pg, service):
    # Upper case sorts before lower case bytewise, not in most locales: ranges must agree anyway.
    pg.execute(
        "CREATE TABLE {s}.codes (code text PRIMARY KEY, org text NOT NULL, qty int, updated_at timestamptz NOT NULL)"
    )
    pg.execute(
        """INSERT INTO {s}.codes SELECT (ARRAY['a', 'B', 'é', 'Z', '_', '1'])[1 + g % 6] || md5(g::text), 'tn_t',
           g, now() - interval '1 hour' FROM generate_series(1, 4000) g"""
    )
    spec = table_source(
        unique("codes"), pg.table("codes"), primary_key=["code"], soft_delete_column=None, tenant_column="org"
    )
    service.registry.create(spec)
    job = service.run(spec.name, "backfill")
    assert job.state == "succeeded", job.error
    assert service.verify(spec.name)["match"] is True
    changed = pg.rows('SELECT code FROM {s}.codes ORDER BY code COLLATE "C" LIMIT 1 OFFSET 1234')[0][0]
    pg.execute("UPDATE {s}.codes SET qty = -1 WHERE code = %s", (changed,))
    pg.execute('DELETE FROM {s}.codes WHERE code = (SELECT max(code COLLATE "C") FROM {s}.codes)')
    values = service.verify(spec.name)["values"]
    problems = {k["key"]: k["problem"] for r in values["differing_ranges"] for k in r["sample_keys"]}
    assert problems[changed] == "values_differ"
    assert list(problems.values()).count("extra_in_warehouse") == 1
    assert service.verify(spec.name, repair=True)["match"] is True


def test_events_target_reports_missing_and_stale_events_then_repairs(pg, service):
    pg.execute(
        """CREATE TABLE {s}.visits (id int PRIMARY KEY, org text NOT NULL, visitor text NOT NULL,
           at timestamptz NOT NULL, updated_at timestamptz NOT NULL, removed boolean)"""
    )
    pg.execute(
        """INSERT INTO {s}.visits SELECT g, 'tn_visits', 'v-' || mod(g, 11), now() - g * interval '1 minute',
           now() - interval '1 hour', false FROM generate_series(1, 300) g"""
    )
    spec = SourceSpec.model_validate(
        {
            "name": unique("visits"),
            "dsn": DSN,
            "table": pg.table("visits"),
            "tenant_column": "org",
            "cursor": "updated_at",
            "soft_delete_column": "removed",
            "target": {"kind": "events", "event_name": "visit", "distinct_id": "visitor", "timestamp": "at"},
        }
    )
    service.registry.create(spec)
    assert service.run(spec.name, "backfill").state == "succeeded"
    report = service.verify(spec.name)
    assert report["match"] is True, report
    assert report["target"] == "events" and report["values"]["source_rows"] == 300
    assert report["tenants"] == [{"tenant_id": "tn_visits", "source_rows": 300, "warehouse_rows": 300, "match": True}]
    # Soft-deleted with an updated_at behind the checkpoint's overlap window: the next sync never
    # sees it, its event stays.
    pg.execute("UPDATE {s}.visits SET removed = true, updated_at = updated_at - interval '10 minutes' WHERE id = 7")
    assert service.run(spec.name, "sync").state == "succeeded"
    warehouse = service.runtime.warehouse
    events = warehouse.table("events")
    gone = warehouse.query(
        f"SELECT toString(event_id) FROM {events} WHERE tenant_id = 'tn_visits' ORDER BY event_id LIMIT 1"
    ).scalar()
    warehouse.command(f"DELETE FROM {events} WHERE tenant_id = 'tn_visits' AND event_id = '{gone}'")

    values = service.verify(spec.name)["values"]
    assert values["match"] is False
    problems = sorted(k["problem"] for k in values["sample_keys"])
    assert problems == ["deleted_in_source_but_present", "missing_in_warehouse"]
    assert {k["key"] for k in values["sample_keys"] if k["problem"] != "missing_in_warehouse"} == {"7"}

    repaired = service.verify(spec.name, repair=True)
    assert repaired["match"] is True, repaired
    count = warehouse.query(f"SELECT count() FROM {events} WHERE tenant_id = 'tn_visits'").scalar()
    assert count == 299

    # An event stored twice (before the merge that would remove it) is reported too.
    twice = warehouse.query(
        f"SELECT toString(event_id) FROM {events} WHERE tenant_id = 'tn_visits' ORDER BY event_id LIMIT 1 OFFSET 5"
    ).scalar()
    warehouse.command(
        f"INSERT INTO {events} SELECT * FROM {events} WHERE tenant_id = 'tn_visits' AND event_id = '{twice}'"
    )
    values = service.verify(spec.name)["values"]
    assert [k["problem"] for k in values["sample_keys"]] == ["duplicated_in_warehouse"]
    assert values["warehouse_rows"] == 300 and values["source_rows"] == 299


def test_verify_through_the_api_and_the_cli_exit_code(pg, client, admin_headers, service):
    spec = table_source(unique("apiv"), donations_table(pg, rows=400))
    service.registry.create(spec)
    assert service.run(spec.name, "backfill").state == "succeeded"
    pg.execute("UPDATE {s}.donations SET note = 'changed' WHERE id = 17")
    answer = client.get(f"/v1/admin/sync/sources/{spec.name}/verify", headers=admin_headers).json()
    assert answer["match"] is False
    assert answer["values"]["sample_keys"][0]["key"] == "17"
    fixed = client.post(f"/v1/admin/sync/sources/{spec.name}/verify/repair", headers=admin_headers)
    assert fixed.status_code == 200 and fixed.json()["match"] is True
    assert fixed.json()["repair"]["rows_copied"] >= 1


def test_when_everything_differs_the_answer_stays_bounded_and_repair_pages(pg, service, monkeypatch):
    monkeypatch.setattr(verify, "LEAF_ROWS", 50)
    monkeypatch.setattr(verify, "SPLIT_BUDGET", 3)
    monkeypatch.setattr(verify, "LISTED_RANGE_BUDGET", 4)
    monkeypatch.setattr(verify, "REPAIR_CHUNK_ROWS", 70)
    spec = table_source(unique("bulk"), donations_table(pg, rows=3000))
    service.registry.create(spec)
    assert service.run(spec.name, "backfill").state == "succeeded"
    pg.execute("UPDATE {s}.donations SET note = upper(note)")  # every row, updated_at unchanged
    values = service.verify(spec.name)["values"]
    assert values["match"] is False
    # 16 top ranges, 3 of them split again (16 each): 16 + 3 * 16 compared; 13 + 48 differing ranges.
    assert values["ranges_compared"] == 16 + 3 * 16
    assert values["differing_range_count"] == 13 + 48
    listed = [r for r in values["differing_ranges"] if r["keys_listed"]]
    assert len(listed) == 4 and all(r["differing_keys"] == r["source_rows"] for r in listed)
    repaired = service.verify(spec.name, repair=True)
    assert repaired["repair"]["rows_copied"] == 3000
    assert repaired["match"] is True, repaired["values"]
    warehouse = service.runtime.warehouse
    stored = warehouse.query(f"SELECT count() FROM {warehouse.table(spec.target.table)}").scalar()
    assert stored == 3000  # the old versions were deleted, not shadowed
