"""Embed tokens: create, list, revoke; and what a token shows.

A token is `{id}.{expires}.{signature}`: the signature (HMAC-SHA256, a key derived from the storage
signing key) covers the row's id, its tenant and its expiry, so a token is checked before any lookup
and cannot be moved to another row, tenant or lifetime. The row makes it revocable. What a token
shows is computed as the tenant (read scope) with the token's locked filters laid over the dashboard
or insight; a widget whose query could not carry a locked filter (a kind that takes no property
filters, like restricted SQL) is answered with an error instead of unfiltered data."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from analytics_engine.dashboards.render import plan_widget, render_dashboard
from analytics_engine.dashboards.schemas import DashboardFilters, WidgetError, WidgetResult
from analytics_engine.embeds.models import EmbedToken
from analytics_engine.embeds.schemas import (
    EmbedCreate,
    EmbedCreated,
    EmbedPublic,
    EmbedView,
    LockedFilters,
    ViewerFilters,
)
from analytics_engine.errors import InvalidInput, NotFound, Unauthorized
from analytics_engine.insights import registry
from analytics_engine.insights.context import Overrides, RunContext
from analytics_engine.metadata.models import utcnow
from analytics_engine.tenants.schemas import Scope
from analytics_engine.tenants.service import TenantContext

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime

# A view records its time at most this often (one metadata write per token per minute).
LAST_USED_EVERY = timedelta(minutes=1)
MAX_LIST = 500


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _status(row: EmbedToken, now: datetime) -> str:
    if row.revoked_at is not None:
        return "revoked"
    return "expired" if row.expires_at <= now else "active"


def public(row: EmbedToken, now: datetime | None = None) -> EmbedPublic:
    return EmbedPublic(
        id=row.id,
        kind="dashboard" if row.dashboard_id else "insight",
        title=row.title,
        dashboard_id=row.dashboard_id,
        insight=row.query,
        locked=LockedFilters.model_validate(row.locked),
        status=_status(row, now or utcnow()),  # type: ignore[arg-type]
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def _property(item: dict[str, Any]) -> dict[str, Any]:
    return item if "type" in item else {"type": "property", **item}


def lock_problem(query: dict[str, Any], locked: LockedFilters) -> str | None:
    """Why `query` (after the overrides) does not carry every locked filter, or None when it does."""
    filters = query.get("filters") or []
    for item in locked.properties:
        if _property(item) not in filters:
            return f"a {query.get('kind')} query cannot carry the locked property filters"
    if locked.cohort_id and query.get("cohort_id") != locked.cohort_id:
        return f"a {query.get('kind')} query cannot carry the locked cohort"
    if locked.timezone and query.get("timezone") != locked.timezone:
        return f"a {query.get('kind')} query cannot carry the locked time zone"
    if locked.dates:
        date_range = query.get("date_range") or {}
        if date_range.get("date_from") != locked.date_from or date_range.get("date_to") != locked.date_to:
            return f"a {query.get('kind')} query cannot carry the locked period"
    return None


class EmbedService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._key: bytes | None = None

    # --- signing ---------------------------------------------------------------------------------
    def _signing_key(self) -> bytes:
        if self._key is None:
            from analytics_engine.storage.signing import load_signing_key

            settings = self.runtime.settings
            base = load_signing_key(settings.storage_signing_key, settings.data_dir)
            self._key = hmac.new(base, b"analytics-engine embed tokens v1", hashlib.sha256).digest()
        return self._key

    def _signature(self, embed_id: str, tenant_id: str, expires: int) -> str:
        message = f"{embed_id}\n{tenant_id}\n{expires}".encode()
        return _b64(hmac.new(self._signing_key(), message, hashlib.sha256).digest())

    def token(self, row: EmbedToken) -> str:
        expires = int(row.expires_at.timestamp())
        return f"{row.id}.{expires}.{self._signature(row.id, row.tenant_id, expires)}"

    def check(self, token: str, now: datetime | None = None) -> EmbedToken:
        """The row of a valid, unexpired, unrevoked token; 401 otherwise (the reason in the code)."""
        now = now or utcnow()
        parts = token.split(".")
        if len(parts) != 3 or not parts[1].isdigit() or len(token) > 200:
            raise Unauthorized("Not an embed token.", code="invalid_token")
        embed_id, expires_text, signature = parts
        with self.runtime.metadata.session() as session:
            row = session.get(EmbedToken, embed_id)
            if row is not None:
                session.expunge(row)
        expected = self._signature(embed_id, row.tenant_id if row else "", int(expires_text))
        if row is None or not hmac.compare_digest(signature, expected):
            raise Unauthorized("Not a valid embed token.", code="invalid_token")
        if int(row.expires_at.timestamp()) != int(expires_text):
            raise Unauthorized("Not a valid embed token.", code="invalid_token")
        if row.revoked_at is not None:
            raise Unauthorized("This embed token was revoked.", code="embed_revoked")
        if row.expires_at <= now:
            raise Unauthorized("This embed token has expired.", code="embed_expired")
        return row

    # --- admin side --------------------------------------------------------------------------------
    def create(self, tenant: TenantContext, body: EmbedCreate) -> EmbedCreated:
        title = body.title
        query: dict[str, Any] | None = None
        if body.dashboard_id is not None:
            dashboard = self.runtime.dashboards.get(tenant.tenant_id, body.dashboard_id)  # 404 if not ours
            title = title or dashboard.name
        else:
            query = registry.validate_query(body.insight or {})
            kind = registry.get(query["kind"])
            if not kind.insight_api:
                raise InvalidInput(f"a {kind.name} query cannot be embedded", code="invalid_query")
            problem = lock_problem(self._insight_query(query, body.locked, ViewerFilters()), body.locked)
            if problem:
                raise InvalidInput(problem, code="lock_not_supported")
            title = title or f"{kind.name.capitalize()} insight"
        if body.locked.cohort_id:
            self.runtime.cohorts.get(tenant.tenant_id, body.locked.cohort_id)  # 404 if not ours
        now = utcnow()
        with self.runtime.metadata.session() as session:
            row = EmbedToken(
                tenant_id=tenant.tenant_id,
                dashboard_id=body.dashboard_id,
                query=query,
                title=title or "Embed",
                locked=body.locked.model_dump(mode="json"),
                created_by_key=tenant.key_id,
                created_at=now,
                expires_at=(now + timedelta(seconds=body.expires_in_seconds)).replace(microsecond=0),
            )
            session.add(row)
            session.flush()
            token = self.token(row)
            return EmbedCreated(
                **public(row, now).model_dump(), token=token, url=f"/embed/{token}", data_url=f"/v1/embed/{token}"
            )

    def _row(self, session: Any, tenant_id: str, embed_id: str) -> EmbedToken:
        row = session.get(EmbedToken, embed_id)
        if row is None or row.tenant_id != tenant_id:
            raise NotFound(f"No embed {embed_id!r}.")
        return row  # type: ignore[no-any-return]

    def get(self, tenant_id: str, embed_id: str) -> EmbedPublic:
        with self.runtime.metadata.session() as session:
            return public(self._row(session, tenant_id, embed_id))

    def find(
        self, tenant_id: str, *, dashboard_id: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[EmbedPublic]:
        with self.runtime.metadata.session() as session:
            statement = select(EmbedToken).where(EmbedToken.tenant_id == tenant_id)
            if dashboard_id is not None:
                statement = statement.where(EmbedToken.dashboard_id == dashboard_id)
            statement = statement.order_by(EmbedToken.created_at.desc(), EmbedToken.id).limit(limit).offset(offset)
            now = utcnow()
            return [public(row, now) for row in session.scalars(statement)]

    def revoke(self, tenant_id: str, embed_id: str) -> EmbedPublic:
        with self.runtime.metadata.session() as session:
            row = self._row(session, tenant_id, embed_id)
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            session.flush()
            return public(row)

    # --- viewer side -------------------------------------------------------------------------------
    def _viewer_tenant(self, row: EmbedToken) -> TenantContext:
        tenant = self.runtime.tenants.get(row.tenant_id)
        return TenantContext(
            tenant_id=tenant.id,
            tenant_name=tenant.name,
            timezone=tenant.timezone,
            scopes=frozenset({Scope.read.value}),
            key_id=f"embed:{row.id}",
        )

    def _touch(self, row: EmbedToken, now: datetime) -> None:
        if row.last_used_at is not None and now - row.last_used_at < LAST_USED_EVERY:
            return
        with self.runtime.metadata.session() as session:
            stored = session.get(EmbedToken, row.id)
            if stored is not None:
                stored.last_used_at = now

    @staticmethod
    def _check_viewer(locked: LockedFilters, viewer: ViewerFilters) -> None:
        if locked.dates and (viewer.date_from or viewer.date_to):
            raise InvalidInput(
                "this embed's period is locked",
                code="locked_filter",
                details={"errors": [{"loc": ["query", "date_from"], "message": "locked", "type": "locked_filter"}]},
            )

    @staticmethod
    def _insight_query(query: dict[str, Any], locked: LockedFilters, viewer: ViewerFilters) -> dict[str, Any]:
        overrides = Overrides(
            date_from=locked.date_from or viewer.date_from,
            date_to=locked.date_to if locked.dates else viewer.date_to,
            filters=tuple([*locked.properties, *viewer.properties]),
            cohort_id=locked.cohort_id,
            timezone=locked.timezone,
            interval=viewer.interval,
        )
        out = registry.with_overrides(query, overrides)
        if locked.dates and not locked.date_to:
            (out.get("date_range") or {}).pop("date_to", None)
        return out

    def view(self, token: str, viewer: ViewerFilters) -> EmbedView:
        now = utcnow()
        row = self.check(token, now)
        locked = LockedFilters.model_validate(row.locked)
        self._check_viewer(locked, viewer)
        tenant = self._viewer_tenant(row)
        self._touch(row, now)
        base = EmbedView(
            kind="dashboard" if row.dashboard_id else "insight",
            title=row.title,
            expires_at=row.expires_at,
            locked=locked,
        )
        if row.dashboard_id is None:
            query = self._insight_query(row.query or {}, locked, viewer)
            problem = lock_problem(query, locked)
            if problem:  # checked at creation; a kind changed since
                raise InvalidInput(problem, code="lock_not_supported")
            base.insight = registry.run_query(RunContext(self.runtime, tenant), query).model_dump(mode="json")
            return base
        base.dashboard = self._render(tenant, row.dashboard_id, locked, viewer).model_dump(mode="json")
        return base

    def _render(self, tenant: TenantContext, dashboard_id: str, locked: LockedFilters, viewer: ViewerFilters) -> Any:
        dashboard = self.runtime.dashboards.get_for_render(tenant.tenant_id, dashboard_id)
        saved = dashboard.filters
        filters = DashboardFilters(
            date_from=locked.date_from if locked.dates else (viewer.date_from or saved.date_from),
            date_to=locked.date_to
            if locked.dates
            else (viewer.date_to if viewer.date_from or viewer.date_to else saved.date_to),
            properties=[*saved.properties, *locked.properties, *viewer.properties],
            cohort_id=locked.cohort_id or saved.cohort_id,
            timezone=locked.timezone or saved.timezone,
            interval=viewer.interval or saved.interval,
        )
        # Widgets whose query cannot carry a locked filter are answered with an error, never computed.
        definitions = self.runtime.metrics.definitions(
            tenant.tenant_id,
            sorted({(w.metric_id, w.metric_version) for w in dashboard.widgets if w.metric_id}, key=str),
        )
        refused: dict[str, str] = {}
        for widget in dashboard.widgets:
            plan = plan_widget(self.runtime, tenant.tenant_id, widget, filters, definitions)
            if plan.error is None and plan.query is not None:
                problem = lock_problem(plan.query, locked)
                if problem:
                    refused[widget.id] = problem
        allowed = {w.id for w in dashboard.widgets if w.id not in refused}
        result = render_dashboard(
            self.runtime, tenant, dashboard.model_copy(update={"filters": filters}), widget_ids=allowed
        )
        by_id = {w.id: w for w in result.widgets}
        widgets = []
        for widget in dashboard.widgets:
            if widget.id in by_id:
                widgets.append(by_id[widget.id])
            else:
                widgets.append(
                    WidgetResult(
                        id=widget.id,
                        title=widget.title,
                        viz=widget.viz,
                        layout=widget.layout,
                        error=WidgetError(code="lock_not_supported", message=refused[widget.id]),
                    )
                )
        result.widgets = widgets
        return result


__all__ = ["EmbedService", "lock_problem"]
