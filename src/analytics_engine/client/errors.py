"""The client's errors: one `ApiError` carrying the service's `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """The service answered with an error status; `code` and `message` are its own words."""

    def __init__(self, status: int, code: str, message: str, details: Any = None, request_id: str | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.request_id = request_id


class JobFailed(Exception):
    """A job the client waited for ended `failed` or `cancelled`; `job` is its last status."""

    def __init__(self, job: dict[str, Any]):
        super().__init__(f"job {job.get('id')} ended {job.get('state')}: {job.get('error') or 'no error given'}")
        self.job = job


class WaitTimeout(Exception):
    """A job did not finish within the time the caller allowed; `job` is its last status."""

    def __init__(self, job: dict[str, Any], seconds: float):
        super().__init__(f"job {job.get('id')} still {job.get('state')} after {seconds:.0f} s")
        self.job = job
