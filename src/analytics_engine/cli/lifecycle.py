"""`analytics-engine lifecycle run|status` and `analytics-engine privacy erase|resume`: the tiering job
and erasures from the command line (on the warehouse directly: with the embedded one, not while
`serve` holds the data folder)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from analytics_engine.cli.common import clean_errors, fail, runtime

lifecycle_app = typer.Typer(help="Retention tiers: move old months to the cold tier (docs/lifecycle.md).")
privacy_app = typer.Typer(help="Erasure of a person with a signed receipt (docs/privacy.md).")


@lifecycle_app.command("run")
@clean_errors
def lifecycle_run() -> None:
    """Run the tiering job to its end (a run cut short before is finished first)."""
    rt = runtime()
    try:
        rt.runner.recover()
        job = rt.lifecycle.run(wait=True)
        typer.echo(json.dumps({"job_id": job.id, "state": job.state, "result": job.result, "error": job.error}))
        if job.state != "succeeded":
            raise typer.Exit(1)
    finally:
        rt.close()


@lifecycle_app.command("status")
@clean_errors
def lifecycle_status() -> None:
    """The tiered months and the cold files."""
    rt = runtime()
    try:
        typer.echo(json.dumps(rt.lifecycle.status()))
    finally:
        rt.close()


@privacy_app.command("erase")
@clean_errors
def privacy_erase(
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
    distinct_id: Annotated[str, typer.Option(help="The person's distinct_id.")],
    suppress: Annotated[bool, typer.Option(help="Refuse the id's later events at ingest.")] = False,
) -> None:
    """Erase one person now and print the erasure with its signed receipt."""
    from analytics_engine.privacy.schemas import ErasureCreate

    rt = runtime()
    try:
        rt.tenants.get(tenant)
        accepted = rt.privacy.request(tenant, ErasureCreate(distinct_id=distinct_id, suppress=suppress), wait=True)
        erasure = rt.privacy.get(tenant, accepted.id)
        typer.echo(erasure.model_dump_json())
        if erasure.status != "completed":
            fail(f"erasure {erasure.id} is {erasure.status}: {erasure.error or 'see the job'}")
    finally:
        rt.close()


@privacy_app.command("resume")
@clean_errors
def privacy_resume() -> None:
    """Finish the erasures a killed process left (their job leases must have expired)."""
    from analytics_engine.lifecycle.service import wait_for_lease
    from analytics_engine.privacy.service import JOB_KIND

    rt = runtime()
    try:
        rt.privacy.register_jobs()
        for left in rt.jobs.list(kind=JOB_KIND, state="running"):
            wait_for_lease(rt, left)
        finished = []
        while (done := rt.runner.run_once([JOB_KIND])) is not None:
            finished.append({"job_id": done.id, "state": done.state, "erasure_id": done.result.get("erasure_id")})
        typer.echo(json.dumps(finished))
    finally:
        rt.close()
