from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import TypeAdapter, ValidationError

from analytics_engine.api.deps import ReadTenant, RuntimeDep
from analytics_engine.api.openapi import errors
from analytics_engine.cohorts.schemas import PropertyFilter
from analytics_engine.errors import InvalidInput, field_errors, summarize
from analytics_engine.persons.service import PersonEvent, PersonPublic, PersonService, PersonsPage
from analytics_engine.validation import WarehouseDateTime

router = APIRouter(prefix="/v1/persons", tags=["persons"])
_FILTERS = TypeAdapter(list[PropertyFilter])


def parse_filters(where: str | None, properties: list[str]) -> list[PropertyFilter]:
    """`where` is a JSON list of property filters; each `property=key:value` adds an equality."""
    try:
        filters = _FILTERS.validate_json(where) if where else []
        for item in properties:
            key, sep, value = item.partition(":")
            if not sep:
                raise InvalidInput(f"property filters look like key:value, got {item!r}")
            filters.append(PropertyFilter(key=key, operator="eq", value=value))
    except ValidationError as exc:
        errors = field_errors(exc.errors())
        raise InvalidInput.from_validation(
            f"Invalid person filter: {summarize(errors, 'where')}", exc.errors()
        ) from exc
    return filters


@router.get(
    "",
    response_model=PersonsPage,
    summary="Persons, most recently seen first; filter by properties",
    responses=errors(404),
)
def list_persons(
    tenant: ReadTenant,
    runtime: RuntimeDep,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=1_000_000),
    search: str | None = Query(None, max_length=200, description="Part of the distinct_id."),
    property: list[str] = Query([], description="`key:value` on the latest value (repeatable)."),
    where: str | None = Query(
        None,
        max_length=10_000,
        description='JSON list of filters, e.g. `[{"key": "amount", "operator": "gt", "value": 10}]`.',
    ),
    cohort_id: str | None = Query(None, description="Only members of this cohort."),
    seen_after: WarehouseDateTime | None = Query(None, description="Last seen at or after (ISO 8601)."),
    seen_before: WarehouseDateTime | None = Query(None, description="First seen before (ISO 8601)."),
) -> PersonsPage:
    """Persons (distinct ids) most recently seen first, filtered by property conditions (`where` as
    JSON or `property=key:value`), a cohort, a search prefix and seen-after/before times."""
    return PersonService(runtime).list(
        tenant.tenant_id,
        limit=limit,
        offset=offset,
        search=search,
        filters=parse_filters(where, property),
        cohort_id=cohort_id,
        seen_after=seen_after,
        seen_before=seen_before,
    )


@router.get("/{distinct_id}", response_model=PersonPublic, summary="One person: first/last seen, properties")
def get_person(distinct_id: str, tenant: ReadTenant, runtime: RuntimeDep) -> PersonPublic:
    """One person: first and last seen, event count and latest properties; 404 when this tenant has
    no events from that id."""
    return PersonService(runtime).get(tenant.tenant_id, distinct_id)


@router.get(
    "/{distinct_id}/events",
    response_model=list[PersonEvent],
    summary="One person's most recent events, newest first",
    responses={401: {"description": "No or a bad key."}, 404: {"description": "No such person."}},
)
def person_events(
    distinct_id: str, tenant: ReadTenant, runtime: RuntimeDep, limit: int = Query(50, ge=1, le=500)
) -> list[PersonEvent]:
    """Example: `GET /v1/persons/user-1/events?limit=20` →
    `[{"event": "purchase", "timestamp": "...", "properties": {"amount": 9.5}}]`."""
    service = PersonService(runtime)
    service.get(tenant.tenant_id, distinct_id)  # 404 for a person never seen
    return service.events(tenant.tenant_id, distinct_id, limit)
