"""Dashboards and widgets: CRUD (tenant-scoped; another tenant's dashboard is a 404)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from analytics_engine.annotations.models import Annotation
from analytics_engine.dashboards.models import Dashboard, Widget
from analytics_engine.dashboards.schemas import (
    DashboardCreate,
    DashboardFilters,
    DashboardPublic,
    DashboardSummary,
    DashboardUpdate,
    Layout,
    WidgetCreate,
    WidgetPublic,
    WidgetUpdate,
)
from analytics_engine.errors import InvalidInput, NotFound
from analytics_engine.insights import registry
from analytics_engine.metadata.db import MetadataDB
from analytics_engine.metadata.models import utcnow
from analytics_engine.metrics.memo import Memo
from analytics_engine.metrics.service import MetricService

T = TypeVar("T")


def widget_public(widget: Widget) -> WidgetPublic:
    return WidgetPublic(
        id=widget.id,
        dashboard_id=widget.dashboard_id,
        title=widget.title,
        viz=widget.viz,
        metric_id=widget.metric_id,
        metric_version=widget.metric_version,
        query=widget.query,
        dimensions=list(widget.dimensions or []),
        layout=Layout.model_validate(widget.layout or {}),
        options=widget.options or {},
        created_at=widget.created_at,
        updated_at=widget.updated_at,
    )


def _writes(method: Callable[..., T]) -> Callable[..., T]:
    """Drop the memoised dashboard before and after a write (so no render caches what it replaces)."""

    @functools.wraps(method)
    def wrapper(self: DashboardService, tenant_id: str, dashboard_id: str, *args: Any, **kwargs: Any) -> T:
        self._forget(dashboard_id)
        try:
            return method(self, tenant_id, dashboard_id, *args, **kwargs)
        finally:
            self._forget(dashboard_id)

    return wrapper


class DashboardService:
    def __init__(self, metadata: MetadataDB, metrics: MetricService) -> None:
        self.metadata = metadata
        self.metrics = metrics
        # the dashboard as every render reads it; every write below drops it
        self.memo: Memo[tuple[str, str], DashboardPublic] = Memo()  # (tenant id, dashboard id)

    def get_for_render(self, tenant_id: str, dashboard_id: str) -> DashboardPublic:
        """`get()` memoised for a moment (renders and stream refreshes read it on every call)."""
        return self.memo.get((tenant_id, dashboard_id), lambda: self.get(tenant_id, dashboard_id))

    def _forget(self, dashboard_id: str) -> None:
        self.memo.drop(lambda key: key[1] == dashboard_id)

    # --- helpers -------------------------------------------------------------------------------
    def _dashboard(self, session: Session, tenant_id: str, dashboard_id: str) -> Dashboard:
        dashboard = session.get(Dashboard, dashboard_id)
        if dashboard is None or dashboard.tenant_id != tenant_id:
            raise NotFound(f"No dashboard {dashboard_id!r}.")
        return dashboard

    def _widgets(self, session: Session, dashboard_id: str) -> list[Widget]:
        return list(
            session.scalars(
                select(Widget).where(Widget.dashboard_id == dashboard_id).order_by(Widget.position, Widget.created_at)
            )
        )

    def _public(self, session: Session, dashboard: Dashboard) -> DashboardPublic:
        return DashboardPublic(
            id=dashboard.id,
            name=dashboard.name,
            description=dashboard.description,
            filters=DashboardFilters.model_validate(dashboard.filters or {}),
            widgets=[widget_public(w) for w in self._widgets(session, dashboard.id)],
            created_at=dashboard.created_at,
            updated_at=dashboard.updated_at,
        )

    def _check_source(
        self,
        tenant_id: str,
        metric_id: str | None,
        version: int | None,
        query: dict[str, Any] | None,
        dimensions: list[str],
    ) -> dict[str, Any] | None:
        """Refuse deprecated or invisible metrics and invalid inline queries; returns the normalised query."""
        if metric_id is not None:
            metric, _, definition = self.metrics.definition(tenant_id, metric_id, version)
            if metric.deprecated:
                raise InvalidInput(
                    f"metric {metric.name!r} is deprecated and cannot be added to a widget",
                    details={"metric_id": metric.id, "replaced_by": metric.replaced_by},
                )
            refused = [d for d in dimensions if d not in (definition.get("dimensions") or [])]
            if refused:
                raise InvalidInput(
                    f"dimension(s) not allowed for metric {metric.name!r}: {', '.join(refused)}",
                    details={"allowed_dimensions": definition.get("dimensions") or []},
                )
            return None
        return registry.validate_query(query or {})

    def _add_widget(
        self, session: Session, tenant_id: str, dashboard: Dashboard, body: WidgetCreate, position: int
    ) -> Widget:
        query = self._check_source(tenant_id, body.metric_id, body.metric_version, body.query, body.dimensions)
        widget = Widget(
            dashboard_id=dashboard.id,
            tenant_id=tenant_id,
            title=body.title,
            viz=body.viz.value,
            metric_id=body.metric_id,
            metric_version=body.metric_version,
            query=query,
            dimensions=list(body.dimensions),
            layout=body.layout.model_dump(),
            options=body.options,
            position=position,
        )
        session.add(widget)
        return widget

    # --- dashboards ----------------------------------------------------------------------------
    def create(self, tenant_id: str, body: DashboardCreate) -> DashboardPublic:
        with self.metadata.session() as session:
            dashboard = Dashboard(
                tenant_id=tenant_id,
                name=body.name,
                description=body.description,
                filters=body.filters.model_dump(mode="json", exclude_none=True),
            )
            session.add(dashboard)
            session.flush()
            for position, widget in enumerate(body.widgets):
                self._add_widget(session, tenant_id, dashboard, widget, position)
            session.flush()
            return self._public(session, dashboard)

    def list(self, tenant_id: str) -> list[DashboardSummary]:
        with self.metadata.session() as session:
            counts = dict(
                session.execute(
                    select(Widget.dashboard_id, func.count())
                    .where(Widget.tenant_id == tenant_id)
                    .group_by(Widget.dashboard_id)
                ).all()
            )
            rows = session.scalars(
                select(Dashboard).where(Dashboard.tenant_id == tenant_id).order_by(Dashboard.name, Dashboard.id)
            )
            return [
                DashboardSummary(
                    id=d.id,
                    name=d.name,
                    description=d.description,
                    widgets=counts.get(d.id, 0),
                    updated_at=d.updated_at,
                )
                for d in rows
            ]

    def get(self, tenant_id: str, dashboard_id: str) -> DashboardPublic:
        with self.metadata.session() as session:
            return self._public(session, self._dashboard(session, tenant_id, dashboard_id))

    def find_by_name(self, tenant_id: str, name: str) -> DashboardSummary | None:
        return next((d for d in self.list(tenant_id) if d.name == name), None)

    @_writes
    def update(self, tenant_id: str, dashboard_id: str, body: DashboardUpdate) -> DashboardPublic:
        with self.metadata.session() as session:
            dashboard = self._dashboard(session, tenant_id, dashboard_id)
            if body.name is not None:
                dashboard.name = body.name
            if "description" in body.model_fields_set:
                dashboard.description = body.description
            if body.filters is not None:
                dashboard.filters = body.filters.model_dump(mode="json", exclude_none=True)
            dashboard.updated_at = utcnow()
            session.flush()
            return self._public(session, dashboard)

    @_writes
    def delete(self, tenant_id: str, dashboard_id: str) -> None:
        with self.metadata.session() as session:
            dashboard = self._dashboard(session, tenant_id, dashboard_id)
            session.execute(delete(Widget).where(Widget.dashboard_id == dashboard.id))
            session.execute(delete(Annotation).where(Annotation.dashboard_id == dashboard.id))
            session.delete(dashboard)

    # --- widgets -------------------------------------------------------------------------------
    @_writes
    def add_widget(self, tenant_id: str, dashboard_id: str, body: WidgetCreate) -> WidgetPublic:
        with self.metadata.session() as session:
            dashboard = self._dashboard(session, tenant_id, dashboard_id)
            position = len(self._widgets(session, dashboard.id))
            widget = self._add_widget(session, tenant_id, dashboard, body, position)
            dashboard.updated_at = utcnow()
            session.flush()
            return widget_public(widget)

    def _widget(self, session: Session, tenant_id: str, dashboard_id: str, widget_id: str) -> Widget:
        self._dashboard(session, tenant_id, dashboard_id)
        widget = session.get(Widget, widget_id)
        if widget is None or widget.dashboard_id != dashboard_id:
            raise NotFound(f"No widget {widget_id!r} on this dashboard.")
        return widget

    @_writes
    def update_widget(self, tenant_id: str, dashboard_id: str, widget_id: str, body: WidgetUpdate) -> WidgetPublic:
        with self.metadata.session() as session:
            widget = self._widget(session, tenant_id, dashboard_id, widget_id)
            changes = body.model_dump(exclude_unset=True)
            if {"metric_id", "query", "metric_version", "dimensions"} & set(changes):
                metric_id = changes.get("metric_id", widget.metric_id if "query" not in changes else None)
                query = changes.get("query", widget.query if "metric_id" not in changes else None)
                if (metric_id is None) == (query is None):
                    raise InvalidInput("a widget needs exactly one of 'metric_id' or 'query'")
                version = changes.get("metric_version", widget.metric_version) if metric_id else None
                dimensions = changes.get("dimensions", widget.dimensions or []) if metric_id else []
                # Keeping the same (possibly since deprecated) metric is allowed; choosing one is checked.
                if metric_id != widget.metric_id or {"query", "metric_version", "dimensions"} & set(changes):
                    widget.query = self._check_source(tenant_id, metric_id, version, query, dimensions)
                widget.metric_id, widget.metric_version, widget.dimensions = metric_id, version, dimensions
            if body.title is not None:
                widget.title = body.title
            if body.viz is not None:
                widget.viz = body.viz.value
            if body.layout is not None:
                widget.layout = body.layout.model_dump()
            if body.options is not None:
                widget.options = body.options
            widget.updated_at = utcnow()
            session.flush()
            return widget_public(widget)

    @_writes
    def delete_widget(self, tenant_id: str, dashboard_id: str, widget_id: str) -> None:
        with self.metadata.session() as session:
            session.delete(self._widget(session, tenant_id, dashboard_id, widget_id))
