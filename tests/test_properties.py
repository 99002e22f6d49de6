"""The one property-path vocabulary: insights, cohorts and exports accept and refuse the same names."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from analytics_engine.cohorts.schemas import Group
from analytics_engine.exports.schemas import EventsSource
from analytics_engine.insights.models import TrendsQuery
from analytics_engine.properties import check_property_path, property_expr

VALID = ["plan", "utm.source", "$browser", "a-b_c", "a.b.c.d.e"]
INVALID = ["", "a b", "a`b", "a'b", 'a"b', "a\\b", ".a", "a.", "a..b", "a.b.c.d.e.f", "x" * 101]


def _insight(path: str) -> object:
    return TrendsQuery.model_validate(
        {"series": [{"event": "e", "filters": [{"type": "property", "key": path, "value": "x"}]}]}
    )


def _cohort(path: str) -> object:
    return Group.model_validate({"type": "group", "criteria": [{"type": "person_property", "key": path, "value": "x"}]})


def _export(path: str) -> object:
    return EventsSource.model_validate({"columns": [f"properties.{path}"], "where": [{"property": path, "value": 1}]})


CONSUMERS = [_insight, _cohort, _export]


@pytest.mark.parametrize("consumer", CONSUMERS)
@pytest.mark.parametrize("path", VALID)
def test_every_consumer_accepts_a_valid_path(consumer, path: str) -> None:  # type: ignore[no-untyped-def]
    assert consumer(path) is not None
    assert check_property_path(path) == path


@pytest.mark.parametrize("consumer", CONSUMERS)
@pytest.mark.parametrize("path", INVALID)
def test_every_consumer_refuses_an_invalid_path(consumer, path: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match="invalid property name"):
        consumer(path)


def test_sub_column_quotes_each_key() -> None:
    assert property_expr("utm.source") == "properties.`utm`.`source`"
    with pytest.raises(ValueError):
        property_expr("a`) OR 1=1 --")
