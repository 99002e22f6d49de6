"""Tenant and key management, and turning a Bearer key into a `TenantContext`."""

from __future__ import annotations

import builtins
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from analytics_engine.errors import Conflict, Forbidden, NotFound, Unauthorized
from analytics_engine.metadata.db import MetadataDB
from analytics_engine.metadata.models import ApiKey, Tenant, utcnow
from analytics_engine.tenants.schemas import (
    KeyCreate,
    KeyCreated,
    KeyPublic,
    Scope,
    TenantCreate,
    TenantPublic,
    TenantUpdate,
)

KEY_PREFIX = "ae_"


@dataclass(frozen=True)
class TenantContext:
    """Who is asking: the tenant a key belongs to and what the key may do."""

    tenant_id: str
    tenant_name: str
    timezone: str
    scopes: frozenset[str]
    key_id: str

    def require(self, scope: Scope) -> None:
        # admin implies every other scope of the same tenant.
        if scope.value not in self.scopes and Scope.admin.value not in self.scopes:
            raise Forbidden(f"This key lacks the '{scope.value}' scope.", details={"required_scope": scope.value})


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def admin_key_matches(given: str, expected: str | None) -> bool:
    return expected is not None and hmac.compare_digest(given.encode(), expected.encode())


class TenantService:
    def __init__(self, metadata: MetadataDB) -> None:
        self.metadata = metadata

    # --- tenants -------------------------------------------------------------------------------
    def create(self, body: TenantCreate) -> TenantPublic:
        try:
            with self.metadata.session() as session:
                tenant = Tenant(**body.model_dump())
                session.add(tenant)
                session.flush()
                return TenantPublic.model_validate(tenant)
        except IntegrityError as exc:
            raise Conflict(f"A tenant named {body.name!r} already exists.") from exc

    def list(self) -> list[TenantPublic]:
        with self.metadata.session() as session:
            tenants = session.scalars(select(Tenant).order_by(Tenant.created_at)).all()
            return [TenantPublic.model_validate(t) for t in tenants]

    def get(self, tenant_id: str) -> TenantPublic:
        with self.metadata.session() as session:
            return TenantPublic.model_validate(self._tenant(session, tenant_id))

    def find_by_name(self, name: str) -> TenantPublic | None:
        with self.metadata.session() as session:
            tenant = session.scalars(select(Tenant).where(Tenant.name == name)).first()
            return TenantPublic.model_validate(tenant) if tenant else None

    def update(self, tenant_id: str, body: TenantUpdate) -> TenantPublic:
        try:
            with self.metadata.session() as session:
                tenant = self._tenant(session, tenant_id)
                for field, value in body.model_dump(exclude_unset=True).items():
                    setattr(tenant, field, value)
                session.flush()
                return TenantPublic.model_validate(tenant)
        except IntegrityError as exc:
            raise Conflict(f"A tenant named {body.name!r} already exists.") from exc

    def delete(self, tenant_id: str) -> None:
        with self.metadata.session() as session:
            tenant = self._tenant(session, tenant_id)
            for key in session.scalars(select(ApiKey).where(ApiKey.tenant_id == tenant_id)):
                session.delete(key)
            session.delete(tenant)

    @staticmethod
    def _tenant(session: Session, tenant_id: str) -> Tenant:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound(f"No tenant with id {tenant_id!r}.")
        return tenant

    # --- keys ----------------------------------------------------------------------------------
    def create_key(self, tenant_id: str, body: KeyCreate) -> KeyCreated:
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        with self.metadata.session() as session:
            self._tenant(session, tenant_id)
            key = ApiKey(
                tenant_id=tenant_id,
                prefix=secret[:10],
                key_hash=hash_key(secret),
                scopes=sorted({scope.value for scope in body.scopes}),
                name=body.name,
                created_at=utcnow(),
            )
            session.add(key)
            session.flush()
            return KeyCreated(**KeyPublic.model_validate(key).model_dump(), key=secret)

    def list_keys(self, tenant_id: str) -> builtins.list[KeyPublic]:
        with self.metadata.session() as session:
            self._tenant(session, tenant_id)
            keys = session.scalars(
                select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.created_at)
            ).all()
            return [KeyPublic.model_validate(k) for k in keys]

    def revoke_key(self, tenant_id: str, key_id: str) -> KeyPublic:
        with self.metadata.session() as session:
            key = session.get(ApiKey, key_id)
            if key is None or key.tenant_id != tenant_id:
                raise NotFound(f"No key with id {key_id!r} for this tenant.")
            if key.revoked_at is None:
                key.revoked_at = utcnow()
            session.flush()
            return KeyPublic.model_validate(key)

    def authenticate(self, secret: str) -> TenantContext:
        with self.metadata.session() as session:
            row = session.execute(
                select(ApiKey, Tenant)
                .join(Tenant, Tenant.id == ApiKey.tenant_id)
                .where(ApiKey.key_hash == hash_key(secret))
            ).first()
            if row is None:
                raise Unauthorized("Unknown API key.")
            key, tenant = row
            if key.revoked_at is not None:
                raise Unauthorized("This API key has been revoked.")
            return TenantContext(
                tenant_id=tenant.id,
                tenant_name=tenant.name,
                timezone=tenant.timezone,
                scopes=frozenset(key.scopes),
                key_id=key.id,
            )
