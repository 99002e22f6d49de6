"""Source declarations: what is refused and why, the YAML file, secrets kept out of answers."""

from __future__ import annotations

import pytest
import yaml

from analytics_engine.errors import InvalidInput
from analytics_engine.sync.spec import load_sources_file, parse_spec, redact_dsn
from tests.sync.conftest import DSN


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"table": None}, "give exactly one of table or query"),
        ({"cursor_kind": "id"}, "soft deletes need an updated_at cursor"),
        ({"tenant_column": None}, "give exactly one of tenant_column or tenant_id"),
        ({"dsn": "mysql://x"}, "dsn must be a postgresql:// URL"),
        ({"name": "Bad Name"}, "name must be lower case"),
        ({"cursor": "x; drop table y"}, "is not a plain PostgreSQL column name"),
        ({"target": {"kind": "table", "table": "events"}}, "cannot be a sync table"),
        ({"target": {"kind": "events", "distinct_id": "u", "timestamp": "t"}}, "exactly one of event_name"),
        ({"query": "DELETE FROM x"}, "query must be a SELECT"),
    ],
)
def test_invalid_specs_say_why(change, message):
    data = {
        "name": "ok",
        "dsn": DSN,
        "table": "public.t",
        "tenant_column": "org",
        "cursor": "updated_at",
        "soft_delete_column": "deleted_at",
        "target": {"kind": "table", "table": "t"},
        **change,
    }
    if change.get("query"):
        data["table"] = None
    with pytest.raises(InvalidInput, match=message):
        parse_spec(data)


def test_dsn_password_is_redacted():
    assert redact_dsn("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact_dsn("postgresql://u@h/db") == "postgresql://u@h/db"


def test_sources_file(tmp_path):
    path = tmp_path / "sync.yaml"
    entry = {
        "name": "a",
        "dsn": DSN,
        "table": "public.t",
        "tenant_id": "tn_1",
        "cursor": "id",
        "target": {"kind": "table", "table": "t"},
    }
    path.write_text(yaml.safe_dump({"sources": [entry]}))
    (spec,) = load_sources_file(path)
    assert spec.tenant_id == "tn_1" and spec.primary_key == ["id"] and spec.order_columns() == ["id"]
    path.write_text(yaml.safe_dump({"sources": [entry, entry]}))
    with pytest.raises(InvalidInput, match="names a source twice: a"):
        load_sources_file(path)
    path.write_text(yaml.safe_dump({"sources": [entry, {**entry, "name": "b"}]}))
    with pytest.raises(InvalidInput, match="several sources writing table"):
        load_sources_file(path)
    path.write_text("sources: [unclosed")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        load_sources_file(path)
    with pytest.raises(InvalidInput, match="does not exist"):
        load_sources_file(tmp_path / "missing.yaml")
    path.write_text("")
    assert load_sources_file(path) == []


def test_public_view_hides_the_password():
    spec = parse_spec(
        {
            "name": "p",
            "dsn": "postgresql://app:s3cret@db:5432/prod",
            "query": "SELECT * FROM x",
            "tenant_column": "org",
            "primary_key": ["org", "id"],
            "cursor": "updated_at",
            "target": {"kind": "events", "event_column": "kind", "distinct_id": "user_id", "timestamp": "at"},
        }
    )
    assert spec.public()["dsn"] == "postgresql://app:***@db:5432/prod"
    assert spec.order_columns() == ["updated_at", "org", "id"]
    assert spec.required_columns() == ["updated_at", "org", "id", "kind", "user_id", "at"]


def test_tenants_a_source_names() -> None:
    from tests.sync.conftest import table_source

    assert table_source("one", "t", tenant_column=None, tenant_id="acme").tenants() == frozenset({"acme"})
    mapped = table_source("two", "t", tenant_map={"org-1": "acme", "org-2": "globex", "org-3": "acme"})
    assert mapped.tenants() == frozenset({"acme", "globex"})
    assert table_source("three", "t").tenants() is None  # the column holds tenant ids: any tenant
