"""`analytics-engine tenants ...` and `keys ...`: metadata only, so they work while `serve` runs.

A tenant is named by its id or its name everywhere; list commands take `--json`, and ids are never cut."""

from __future__ import annotations

from typing import Annotated

import typer

from analytics_engine.cli.common import JsonOption, clean_errors, fail, find_tenant, out, print_rows, tenant_service

tenants_app = typer.Typer(help="Create and list tenants.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke a tenant's API keys.", no_args_is_help=True)

TenantArgument = typer.Argument(help="Tenant id or name.", show_default=False)
# The choices of `tenants.schemas.Scope`, spelled here so `--help` needs no pydantic import; the model
# still validates the values (a test checks both lists agree).
SCOPES = ("ingest", "read", "admin")


@tenants_app.command("create")
@clean_errors
def create(
    name: str,
    timezone: Annotated[str, typer.Option(help="IANA time zone, e.g. Europe/Oslo.")] = "UTC",
) -> None:
    """Create a tenant."""
    from pydantic import ValidationError

    from analytics_engine.tenants.schemas import TenantCreate

    try:
        body = TenantCreate(name=name, timezone=timezone)
    except ValidationError as exc:
        fail("; ".join(error["msg"] for error in exc.errors()))
    tenant = tenant_service().create(body)
    out.print_json(tenant.model_dump_json())


@tenants_app.command("list")
@clean_errors
def list_tenants(as_json: Annotated[bool, JsonOption] = False) -> None:
    """List tenants."""
    tenants = tenant_service().list()
    if as_json:
        print_rows(
            ("id", "name", "timezone", "created_at"),
            ((t.id, t.name, t.timezone, t.created_at.isoformat()) for t in tenants),
            as_json=True,
        )
        return
    print_rows(
        ("id", "name", "timezone", "created"),
        ((t.id, t.name, t.timezone, f"{t.created_at:%Y-%m-%d %H:%M}") for t in tenants),
        as_json=False,
    )


@keys_app.command("create")
@clean_errors
def create_key(
    tenant: Annotated[str, TenantArgument],
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help=f"One of {', '.join(SCOPES)}; repeat for several.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A label for the key.")] = None,
) -> None:
    """Create an API key; the secret is printed once."""
    from pydantic import ValidationError

    from analytics_engine.tenants.schemas import KeyCreate

    try:
        body = KeyCreate.model_validate({"scopes": scope or ["ingest", "read"], "name": name})
    except ValidationError as exc:
        fail(f"--scope takes {', '.join(SCOPES)}: " + "; ".join(error["msg"] for error in exc.errors()))
    service = tenant_service()
    key = service.create_key(find_tenant(service, tenant).id, body)
    out.print_json(key.model_dump_json())


@keys_app.command("list")
@clean_errors
def list_keys(tenant: Annotated[str, TenantArgument], as_json: Annotated[bool, JsonOption] = False) -> None:
    """List a tenant's keys (never the secrets)."""
    service = tenant_service()
    keys = service.list_keys(find_tenant(service, tenant).id)
    print_rows(
        ("id", "prefix", "scopes", "name", "created_at", "revoked_at"),
        (
            (
                k.id,
                k.prefix,
                ",".join(k.scopes),
                k.name,
                k.created_at.isoformat(timespec="seconds"),
                k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else None,
            )
            for k in keys
        ),
        as_json=as_json,
    )


@keys_app.command("revoke")
@clean_errors
def revoke_key(tenant: Annotated[str, TenantArgument], key_id: str) -> None:
    """Revoke a key: it stops working at once."""
    service = tenant_service()
    key = service.revoke_key(find_tenant(service, tenant).id, key_id)
    out.print(f"revoked {key.id} at {key.revoked_at:%Y-%m-%d %H:%M:%S}")
