from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from analytics_engine.cli.common import clean_errors, fail, out, tenant_service
from analytics_engine.tenants.schemas import KeyCreate, Scope, TenantCreate

tenants_app = typer.Typer(help="Create and list tenants.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke a tenant's API keys.", no_args_is_help=True)


@tenants_app.command("create")
@clean_errors
def create(
    name: str,
    timezone: Annotated[str, typer.Option(help="IANA time zone, e.g. Europe/Oslo.")] = "UTC",
) -> None:
    """Create a tenant."""
    try:
        body = TenantCreate(name=name, timezone=timezone)
    except ValidationError as exc:
        fail("; ".join(error["msg"] for error in exc.errors()))
    tenant = tenant_service().create(body)
    out.print_json(tenant.model_dump_json())


@tenants_app.command("list")
@clean_errors
def list_tenants() -> None:
    """List tenants."""
    table = Table("id", "name", "timezone", "created")
    for tenant in tenant_service().list():
        table.add_row(tenant.id, tenant.name, tenant.timezone, f"{tenant.created_at:%Y-%m-%d %H:%M}")
    out.print(table)


@keys_app.command("create")
@clean_errors
def create_key(
    tenant_id: str,
    scope: Annotated[list[Scope] | None, typer.Option("--scope", help="Repeat for several.")] = None,
    name: Annotated[str | None, typer.Option(help="A label for the key.")] = None,
) -> None:
    """Create an API key; the secret is printed once."""
    key = tenant_service().create_key(tenant_id, KeyCreate(scopes=scope or [Scope.ingest, Scope.read], name=name))
    out.print_json(key.model_dump_json())


@keys_app.command("list")
@clean_errors
def list_keys(tenant_id: str) -> None:
    """List a tenant's keys (never the secrets)."""
    table = Table("id", "prefix", "scopes", "name", "revoked")
    for key in tenant_service().list_keys(tenant_id):
        table.add_row(key.id, key.prefix, ",".join(key.scopes), key.name or "", str(key.revoked_at or ""))
    out.print(table)


@keys_app.command("revoke")
@clean_errors
def revoke_key(tenant_id: str, key_id: str) -> None:
    """Revoke a key: it stops working at once."""
    key = tenant_service().revoke_key(tenant_id, key_id)
    out.print(f"revoked {key.id} at {key.revoked_at:%Y-%m-%d %H:%M:%S}")
