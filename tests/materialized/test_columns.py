"""Column names and DDL of materialized properties (pure)."""

from __future__ import annotations

import re

import pytest

from analytics_engine.materialized.columns import add_column_sql, column_expression, column_name


def test_names_are_deterministic_and_typed() -> None:
    assert column_name("plan", "string") == column_name("plan", "string")
    assert column_name("plan", "string").startswith("mp_s_plan_")
    assert column_name("plan", "number").startswith("mp_n_plan_")
    assert column_name("plan", "string") != column_name("plan", "number")


@pytest.mark.parametrize(
    "paths",
    [("utm.source", "utm_source", "UTM.source", "utm-source", "$utm.source")],
)
def test_paths_that_sanitise_alike_get_different_names(paths: tuple[str, ...]) -> None:
    names = {column_name(path, "string") for path in paths}
    assert len(names) == len(paths)
    for name in names:
        assert re.fullmatch(r"mp_s_[a-z0-9_]+_[0-9a-f]{8}", name), name


def test_long_paths_stay_short() -> None:
    path = ".".join(["k" * 100] * 5)
    assert len(column_name(path, "number")) <= 5 + 40 + 1 + 8


def test_invalid_paths_are_refused() -> None:
    for path in ("a b", "x`y", "", "a..b"):
        with pytest.raises(ValueError):
            column_name(path, "string")


def test_ddl_reads_the_json_sub_column() -> None:
    sql = add_column_sql("`db`.`events`", "utm.source", "string")
    assert sql.startswith("ALTER TABLE `db`.`events` ADD COLUMN IF NOT EXISTS `mp_s_utm_source_")
    assert "LowCardinality(Nullable(String)) MATERIALIZED if(properties.`utm`.`source` IS NULL, NULL" in sql
    assert column_expression("amount", "number").startswith("coalesce(toFloat64(properties.`amount`.:Float64)")
