"""The one exception family of the service. Each maps to an HTTP status and a stable error code;
`api/errors.py` renders them as `{"error": {"code", "message", "details"?}}` and the CLI prints them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any

MAX_FIELD_ERRORS = 20


class AppError(Exception):
    """Base of every error we raise on purpose."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code

    def to_body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


class BadRequest(AppError):
    """The request cannot be read (malformed JSON, wrong content type)."""

    status_code = 400
    code = "bad_request"


class Unauthorized(AppError):
    """No key, an unknown key or a revoked key."""

    status_code = 401
    code = "unauthorized"


class Forbidden(AppError):
    """The key is valid but lacks the scope the route needs."""

    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    """The id names nothing this tenant owns."""

    status_code = 404
    code = "not_found"


class Conflict(AppError):
    """The change clashes with the current state (a duplicate name, a job already finished)."""

    status_code = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    """The body or the number of items exceeds a configured limit."""

    status_code = 413
    code = "payload_too_large"


class InvalidInput(AppError):
    """The request is well-formed but its values are not acceptable.

    Its `details` always have one shape (`invalid_details`): `{"errors": [{"loc", "message", "type"}],
    ...context}`; a caller passes field errors (`from_validation`) and/or context keys."""

    status_code = 422
    code = "invalid_input"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message, details=invalid_details(message, details, code or self.code), code=code)

    @classmethod
    def from_validation(
        cls, message: str, errors: Iterable[Mapping[str, Any]], *, code: str | None = None, **context: Any
    ) -> InvalidInput:
        """From pydantic's `exc.errors()`: each becomes a field error (at most MAX_FIELD_ERRORS)."""
        return cls(message, details={"errors": field_errors(errors), **context}, code=code)


def field_errors(errors: Iterable[Mapping[str, Any]], prefix: Iterable[str | int] = ()) -> list[dict[str, Any]]:
    """pydantic / FastAPI validation errors as `{"loc", "message", "type"}` (loc keeps list indexes as ints)."""
    return [
        {
            "loc": [*prefix, *(part if isinstance(part, int) else str(part) for part in error.get("loc", ()))],
            "message": str(error.get("msg", "")).removeprefix("Value error, "),
            "type": str(error.get("type", "")),
        }
        for error in islice(errors, MAX_FIELD_ERRORS)
    ]


def summarize(errors: list[dict[str, Any]], subject: str = "query", limit: int = 3) -> str:
    """The first field errors on one line: `series.0.math: unknown math; ...`."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or subject}: {error['message']}" for error in errors[:limit]
    )


def invalid_details(message: str, details: Any, code: str) -> dict[str, Any]:
    """The one shape of a 422's details: an `errors` list (never empty) beside any context keys."""
    context = dict(details) if isinstance(details, Mapping) else {} if details is None else {"value": details}
    errors = context.pop("errors", None) or [{"loc": [], "message": message, "type": code}]
    return {"errors": list(errors), **context}


class BudgetExceeded(AppError):
    """A tenant's query budget or rate limit is used up; `retry_after` seconds until it refills."""

    status_code = 429
    code = "budget_exceeded"

    def __init__(self, message: str, *, retry_after: int = 1, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class QueryTimeout(AppError):
    """The warehouse stopped a query at its time limit."""

    status_code = 504
    code = "query_timeout"


class WarehouseError(AppError):
    """The warehouse failed for a reason that is not the caller's input."""

    status_code = 503
    code = "warehouse_unavailable"


class ServiceUnavailable(AppError):
    """A dependency (metadata database, broker, cache) cannot be reached."""

    status_code = 503
    code = "service_unavailable"
