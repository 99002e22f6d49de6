"""Cohorts in every insight: a condition on `distinct_id` for filters ("in cohort", "not in cohort")
and breakdowns, bound to the cohort's latest complete version.

    sql, params = cohort_condition(runtime, tenant_id, "coh_...", negate=False)
    # sql: "distinct_id IN (SELECT distinct_id FROM `db`.`cohort_users` WHERE tenant_id = {coh_1a2b_t:String}
    #       AND cohort_id = {coh_1a2b_c:String} AND version = {coh_1a2b_v:UInt32})"

Parameter names are unique per call, so several conditions combine in one query. The version is
resolved once, when the condition is built: the whole query reads that one complete version.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime


def cohort_condition(
    runtime: Runtime, tenant_id: str, cohort_id: str, negate: bool = False, *, column: str = "distinct_id"
) -> tuple[str, dict[str, Any]]:
    """SQL condition "`column` is (not) a member of the cohort" and its parameters.

    Raises `errors.NotFound` for an unknown cohort or another tenant's. A dynamic cohort that was
    never evaluated is evaluated first. `column` is our own SQL (e.g. `e.distinct_id`), never user input.
    """
    cohort, version = runtime.cohorts.published(tenant_id, cohort_id)
    tag = f"coh_{uuid.uuid4().hex[:10]}"
    params = {f"{tag}_t": tenant_id, f"{tag}_c": cohort.id, f"{tag}_v": version}
    members = (
        f"SELECT distinct_id FROM {runtime.warehouse.table('cohort_users')} "
        f"WHERE tenant_id = {{{tag}_t:String}} AND cohort_id = {{{tag}_c:String}} AND version = {{{tag}_v:UInt32}}"
    )
    return f"{column} {'NOT IN' if negate else 'IN'} ({members})", params


def cohort_label(runtime: Runtime, tenant_id: str, cohort_id: str) -> str:
    """The display name of a cohort (for breakdown labels); NotFound as above."""
    name: str = runtime.cohorts.get(tenant_id, cohort_id).name
    return name
