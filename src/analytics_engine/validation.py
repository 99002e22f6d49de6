"""Input rules shared by every route: times the warehouse can store, and PATCH bodies with nulls.

Times. The warehouse stores times as `DateTime64(3, 'UTC')` (warehouse/migrations), whose range is
1900-01-01 00:00:00 .. 2299-12-31 23:59:59.999 UTC. A time outside it makes ClickHouse fail to parse
the query parameter, which used to surface as a 503. Every time a route accepts (query parameter or
body field, absolute or written as an insight date spec) is therefore checked here, at validation,
and refused with a 422. The accepted range leaves one day at each end: a zone-less time is read in
the query's time zone (up to 14 hours away from UTC) and a `date_to` that is a date includes its
whole day, so the bound the warehouse sees stays inside its range either way. A zone-less time is
compared as if it were UTC.

PATCH. A field left out is unchanged. An explicit `null` clears a field that may be empty (it is
listed in the model's `nullable`); on any other field it is a 422 (`field may not be null`). The
JSON schema says the same: only clearable fields are `nullable` in the OpenAPI description.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

# DateTime64's own range, and the accepted range one day inside it (see the module doc).
WAREHOUSE_FIRST = datetime(1900, 1, 1, tzinfo=UTC)
WAREHOUSE_LAST = datetime(2299, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
EARLIEST = WAREHOUSE_FIRST + timedelta(days=1)
LATEST = WAREHOUSE_LAST - timedelta(days=1)


def check_warehouse_time(moment: datetime) -> datetime:
    """`moment` unchanged when the warehouse can store it (zone-less: read as UTC), else ValueError."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    try:
        inside = EARLIEST <= aware <= LATEST
    except OverflowError:  # a UTC offset pushed the value past year 1 or 9999
        inside = False
    if not inside:
        raise ValueError(
            f"time {moment.isoformat()[:40]} is outside what the warehouse stores: use a time between "
            f"{EARLIEST.date().isoformat()} and {LATEST.date().isoformat()} (UTC)"
        )
    return moment


def check_warehouse_date(day: date) -> date:
    """A calendar date (a whole local day) under the same bounds."""
    check_warehouse_time(datetime(day.year, day.month, day.day, tzinfo=UTC))
    return day


def refuse_numbers(value: Any) -> Any:
    """An ISO 8601 text or a datetime, not a number: pydantic would read `4.7e-193` as seconds since 1970,
    which no caller means and the API description (`date-time`) does not promise."""
    if isinstance(value, int | float) or (isinstance(value, str) and _is_number(value)):
        raise ValueError("expected an ISO 8601 time such as 2026-01-31T00:00:00Z, not a number")
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


WarehouseDateTime = Annotated[datetime, BeforeValidator(refuse_numbers), AfterValidator(check_warehouse_time)]


def assume_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# A time read back from the warehouse (its DateTime64 columns are UTC but come back without an
# offset): answered with one, as an RFC 3339 `date-time` must be.
UtcDateTime = Annotated[datetime, AfterValidator(assume_utc)]
"""A `datetime` field or query parameter the warehouse can store; 422 otherwise."""


class PatchModel(BaseModel):
    """Base of every PATCH body: `null` clears a field named in `nullable`, elsewhere it is a 422.

    Fields are declared `X | None = None` so that "left out" is representable; `model_fields_set`
    tells "left out" from "sent as null".
    """

    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null(self) -> Any:
        refused = sorted(
            name for name in self.model_fields_set if getattr(self, name) is None and name not in self.nullable
        )
        if refused:
            raise ValueError(f"{', '.join(refused)} may not be null (leave the field out to keep it)")
        return self

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        for name, prop in target.get("properties", {}).items():
            if name in cls.nullable:
                continue
            options = prop.get("anyOf")
            if isinstance(options, list) and {"type": "null"} in options:
                rest = [option for option in options if option != {"type": "null"}]
                del prop["anyOf"]
                if len(rest) == 1:
                    prop.update(rest[0])
                else:
                    prop["anyOf"] = rest
                if prop.get("default", ...) is None:
                    del prop["default"]
        return schema


# Page offsets: the metadata database (SQLite/PostgreSQL) and the warehouse take 64-bit integers;
# a larger offset used to overflow in the driver (500). 2**53 is also the largest integer JSON
# clients keep exactly, and no page lies beyond it.
MAX_OFFSET = 2**53
