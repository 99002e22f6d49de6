"""Restricted ad-hoc SQL for each tenant: the guard, the tenant table catalogue and the service that
runs a guarded query through the warehouse's tenant scope (docs/sql.md)."""
