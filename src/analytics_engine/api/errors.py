"""One renderer for every error: `{"error": {"code", "message", "details"?}}` with its status.
Our `AppError`s, FastAPI's validation errors, unknown routes and anything unexpected (a 500 that
names the request id and never carries a traceback)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from analytics_engine.api.content_type import is_json, media_type
from analytics_engine.errors import AppError, BudgetExceeded, field_errors, invalid_details

log = structlog.get_logger(__name__)

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "budget_exceeded",
}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def body_error(request: Request, errors: Sequence[Mapping[str, Any]]) -> JSONResponse | None:
    """A body that is not JSON at all: 400 when it does not parse, 415 when it is labelled as another
    type; both name the header (api/content_type.py reads unlabelled bodies as JSON)."""
    declared = request.headers.get("content-type", "")
    for error in errors:
        if error.get("type") == "json_invalid":
            return error_response(
                400,
                "bad_request",
                f"The body is not valid JSON ({error.get('ctx', {}).get('error', 'parse error')}); send a JSON "
                "body, with 'Content-Type: application/json'.",
            )
        if tuple(error.get("loc", ())) == ("body",) and declared and not is_json(declared):
            return error_response(
                415,
                "unsupported_media_type",
                f"This route takes a JSON body: send it with 'Content-Type: application/json' "
                f"(got {media_type(declared)!r}).",
            )
    return None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, BudgetExceeded) else None
        return error_response(exc.status_code, exc.code, exc.message, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        unreadable = body_error(request, exc.errors())
        if unreadable is not None:
            return unreadable
        errors = field_errors(exc.errors())
        first: dict[str, Any] = errors[0] if errors else {"loc": [], "message": "invalid request"}
        where = ".".join(str(p) for p in first["loc"] if p not in ("body", "query", "path"))
        message = f"{where}: {first['message']}" if where else first["message"]
        return error_response(
            422, "invalid_input", message, invalid_details(message, {"errors": errors}, "invalid_input")
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 404 and message == "Not Found":
            message = "No such route."
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", None)
        log.exception("http.unhandled_error", error=str(exc), request_id=request_id)
        return error_response(500, "internal_error", "Something went wrong on our side.", {"request_id": request_id})
