"""The metric registry: create, version, deprecate, list and query metrics.

Visibility: a tenant sees its own metrics and the platform-wide ones; another tenant's metric is a
404. Platform metrics change only through the admin routes; a tenant's own metrics need its
`admin` scope to change and `read` to query (the routes check scopes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from analytics_engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from analytics_engine.insights import registry
from analytics_engine.insights.context import Overrides, RunContext
from analytics_engine.insights.results import SeriesResult
from analytics_engine.metadata.db import MetadataDB
from analytics_engine.metadata.models import utcnow
from analytics_engine.metrics.memo import Memo
from analytics_engine.metrics.models import Metric, MetricVersion
from analytics_engine.metrics.schemas import (
    MetricCreate,
    MetricDefinition,
    MetricDeprecate,
    MetricPublic,
    MetricQueryRequest,
    MetricQueryResponse,
    MetricUpdate,
    MetricVersionPublic,
)

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime

PLATFORM = None  # tenant_id of platform-wide metrics

# (metric, version number, stored definition)
Definition = tuple[MetricPublic, int, dict[str, Any]]
# (tenant id, the (metric id, version or None) pairs asked for)
DefinitionsKey = tuple[str, tuple[tuple[str, int | None], ...]]


def deprecation_warning(metric: MetricPublic) -> str | None:
    if not metric.deprecated:
        return None
    text = f"Metric '{metric.name}' ({metric.id}) is deprecated"
    if metric.deprecation_message:
        text += f": {metric.deprecation_message}"
    if metric.replaced_by:
        text += f" (use {metric.replaced_by})"
    return text


def _definition(body: MetricDefinition) -> dict[str, Any]:
    definition = body.model_dump(mode="json", include=set(MetricDefinition.model_fields))
    definition["query"] = registry.validate_query(body.query)
    return definition


def _public(metric: Metric, version: MetricVersion) -> MetricPublic:
    public = MetricPublic(
        id=metric.id,
        name=metric.name,
        scope="platform" if metric.tenant_id is None else "tenant",
        version=metric.current_version,
        definition=MetricDefinition.model_validate(_stored(version.definition)),
        deprecated=metric.deprecated_at is not None,
        deprecated_at=metric.deprecated_at,
        deprecation_message=metric.deprecation_message,
        replaced_by=metric.replaced_by,
        created_at=metric.created_at,
        updated_at=metric.updated_at,
    )
    public.warning = deprecation_warning(public)
    return public


def _stored(definition: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in definition.items() if key in MetricDefinition.model_fields}


class MetricService:
    def __init__(self, metadata: MetadataDB) -> None:
        self.metadata = metadata
        # definitions read by every dashboard render; writes below drop what they change
        self.memo: Memo[DefinitionsKey, dict[tuple[str, int | None], Definition | Exception]] = Memo()

    # --- reads ---------------------------------------------------------------------------------
    def _visible(self, session: Session, tenant_id: str | None, metric_id: str) -> Metric:
        metric = session.get(Metric, metric_id)
        if metric is None or (metric.tenant_id is not None and metric.tenant_id != tenant_id):
            raise NotFound(f"No metric {metric_id!r}.")
        return metric

    def _version(self, session: Session, metric: Metric, version: int | None = None) -> MetricVersion:
        number = version or metric.current_version
        row = session.get(MetricVersion, (metric.id, number))
        if row is None:
            raise NotFound(f"Metric {metric.id!r} has no version {number}.")
        return row

    def get(self, tenant_id: str | None, metric_id: str) -> MetricPublic:
        """A metric visible to `tenant_id` (None: the platform admin, who sees platform metrics)."""
        with self.metadata.session() as session:
            metric = self._visible(session, tenant_id, metric_id)
            return _public(metric, self._version(session, metric))

    def get_version(self, tenant_id: str | None, metric_id: str, version: int) -> MetricVersionPublic:
        with self.metadata.session() as session:
            metric = self._visible(session, tenant_id, metric_id)
            row = self._version(session, metric, version)
            return MetricVersionPublic(
                metric_id=metric.id,
                version=row.version,
                name=row.definition.get("_name", metric.name),
                definition=MetricDefinition.model_validate(_stored(row.definition)),
                created_at=row.created_at,
            )

    def definition(
        self, tenant_id: str, metric_id: str, version: int | None = None
    ) -> tuple[MetricPublic, int, dict[str, Any]]:
        """(metric, version number, stored definition) for computing it."""
        with self.metadata.session() as session:
            metric = self._visible(session, tenant_id, metric_id)
            row = self._version(session, metric, version)
            return _public(metric, self._version(session, metric)), row.version, _stored(row.definition)

    def definitions(
        self, tenant_id: str, wanted: list[tuple[str, int | None]]
    ) -> dict[tuple[str, int | None], tuple[MetricPublic, int, dict[str, Any]] | Exception]:
        """`definition()` for several (metric id, version or None) at once: two queries in one session.
        A metric that is missing or not visible maps to its NotFound (the caller reports it per widget)."""
        if not wanted:
            return {}
        key = (tenant_id, tuple(wanted))
        return self.memo.get(key, lambda: self._definitions(tenant_id, wanted))

    def _definitions(
        self, tenant_id: str, wanted: list[tuple[str, int | None]]
    ) -> dict[tuple[str, int | None], tuple[MetricPublic, int, dict[str, Any]] | Exception]:
        out: dict[tuple[str, int | None], tuple[MetricPublic, int, dict[str, Any]] | Exception] = {}
        with self.metadata.session() as session:
            ids = sorted({metric_id for metric_id, _ in wanted})
            metrics = {m.id: m for m in session.scalars(select(Metric).where(Metric.id.in_(ids)))}
            numbers = {v for _, v in wanted if v} | {m.current_version for m in metrics.values()}
            versions = {
                (row.metric_id, row.version): row
                for row in session.scalars(
                    select(MetricVersion).where(MetricVersion.metric_id.in_(ids), MetricVersion.version.in_(numbers))
                )
            }
            for metric_id, number in wanted:
                metric = metrics.get(metric_id)
                if metric is None or (metric.tenant_id is not None and metric.tenant_id != tenant_id):
                    out[(metric_id, number)] = NotFound(f"No metric {metric_id!r}.")
                    continue
                current = versions.get((metric.id, metric.current_version))
                row = versions.get((metric.id, number or metric.current_version))
                if current is None or row is None:
                    out[(metric_id, number)] = NotFound(f"Metric {metric.id!r} has no version {number}.")
                    continue
                out[(metric_id, number)] = (_public(metric, current), row.version, _stored(row.definition))
        return out

    def list(
        self, tenant_id: str | None, *, include_deprecated: bool = True, platform_only: bool = False
    ) -> list[MetricPublic]:
        with self.metadata.session() as session:
            statement = select(Metric)
            if platform_only or tenant_id is None:
                statement = statement.where(Metric.tenant_id.is_(None))
            else:
                statement = statement.where(or_(Metric.tenant_id.is_(None), Metric.tenant_id == tenant_id))
            if not include_deprecated:
                statement = statement.where(Metric.deprecated_at.is_(None))
            metrics = session.scalars(statement.order_by(Metric.name, Metric.id)).all()
            return [_public(metric, self._version(session, metric)) for metric in metrics]

    # --- writes --------------------------------------------------------------------------------
    def _forget(self, metric_id: str) -> None:
        """Drop memoised definitions that include this metric (after a new version or deprecation)."""
        self.memo.drop(lambda key: any(item[0] == metric_id for item in key[1]))

    def _owned(self, session: Session, tenant_id: str | None, metric_id: str) -> Metric:
        metric = self._visible(session, tenant_id, metric_id)
        if metric.tenant_id != tenant_id:
            raise Forbidden("Platform-wide metrics are changed by the platform admin (/v1/admin/metrics).")
        return metric

    def _check_name(self, session: Session, tenant_id: str | None, name: str, exclude: str | None = None) -> None:
        clash = session.scalars(
            select(Metric.id).where(
                Metric.name == name,
                Metric.tenant_id.is_(None) if tenant_id is None else Metric.tenant_id == tenant_id,
            )
        ).first()
        if clash and clash != exclude:
            raise Conflict(f"A metric named {name!r} already exists.", details={"metric_id": clash})

    def create(self, tenant_id: str | None, body: MetricCreate, actor: str | None = None) -> MetricPublic:
        definition = _definition(body)
        definition["_name"] = body.name
        with self.metadata.session() as session:
            self._check_name(session, tenant_id, body.name)
            metric = Metric(tenant_id=tenant_id, name=body.name, current_version=1)
            session.add(metric)
            session.flush()
            version = MetricVersion(metric_id=metric.id, version=1, definition=definition, created_by=actor)
            session.add(version)
            session.flush()
            return _public(metric, version)

    def update(
        self, tenant_id: str | None, metric_id: str, body: MetricUpdate, actor: str | None = None
    ) -> MetricPublic:
        definition = _definition(body)
        with self.metadata.session() as session:
            metric = self._owned(session, tenant_id, metric_id)
            if body.name and body.name != metric.name:
                self._check_name(session, tenant_id, body.name, exclude=metric.id)
                metric.name = body.name
            definition["_name"] = metric.name
            metric.current_version += 1
            metric.updated_at = utcnow()
            version = MetricVersion(
                metric_id=metric.id, version=metric.current_version, definition=definition, created_by=actor
            )
            session.add(version)
            session.flush()
            self._forget(metric.id)
            return _public(metric, version)

    def deprecate(self, tenant_id: str | None, metric_id: str, body: MetricDeprecate) -> MetricPublic:
        with self.metadata.session() as session:
            metric = self._owned(session, tenant_id, metric_id)
            if body.replaced_by:
                if body.replaced_by == metric.id:
                    raise InvalidInput("a metric cannot replace itself")
                self._visible(session, tenant_id, body.replaced_by)
            metric.deprecated_at = metric.deprecated_at or utcnow()
            metric.deprecation_message = body.message
            metric.replaced_by = body.replaced_by
            metric.updated_at = utcnow()
            session.flush()
            self._forget(metric.id)
            return _public(metric, self._version(session, metric))

    # --- computing -----------------------------------------------------------------------------
    def build_query(
        self, metric: MetricPublic, definition: dict[str, Any], request: MetricQueryRequest
    ) -> dict[str, Any]:
        allowed = set(definition.get("dimensions") or [])
        refused = [item for item in request.dimensions if item not in allowed]
        if refused:
            raise InvalidInput(
                f"dimension(s) not allowed for metric {metric.name!r}: {', '.join(refused)}",
                details={"allowed_dimensions": sorted(allowed)},
            )
        time_range = request.time_range
        overrides = Overrides(
            date_from=time_range.date_from if time_range else None,
            date_to=time_range.date_to if time_range else None,
            filters=tuple(request.filters),
            cohort_id=request.cohort_id,
            timezone=request.timezone,
            breakdown=tuple(request.dimensions),
            interval=request.interval,
        )
        return registry.with_overrides(definition["query"], overrides)

    def query(self, runtime: Runtime, tenant: Any, metric_id: str, request: MetricQueryRequest) -> MetricQueryResponse:
        answer, _ = self.compute(runtime, tenant, metric_id, request)
        return answer

    def compute(
        self, runtime: Runtime, tenant: Any, metric_id: str, request: MetricQueryRequest
    ) -> tuple[MetricQueryResponse, SeriesResult]:
        """The metric's answer (as the API returns it) and its typed result (tables, chart spec)."""
        metric, version, definition = self.definition(tenant.tenant_id, metric_id, request.version)
        query = self.build_query(metric, definition, request)
        result = registry.run_query(RunContext(runtime, tenant, refresh=request.refresh), query)
        answer = MetricQueryResponse(
            metric=metric, version=version, result=result.model_dump(mode="json"), warning=metric.warning
        )
        return answer, result
