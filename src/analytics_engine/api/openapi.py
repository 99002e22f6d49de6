"""The API description: one place that makes every operation of `/openapi.json` complete.

`install(app)` (called by `create_app`) serves Swagger UI at `/docs` and ReDoc at `/redoc` from the
package (`api/static/`, no internet) and builds the document once with these conventions:

- **Security.** Routes that depend on `api/deps.py`'s `AdminDep` / `*Tenant` declare the bearer schemes
  `adminKey` / `tenantKey` (so Swagger's Authorize button works and "Try it out" sends the key).
- **Errors.** Every 4xx is described by the one real shape, the `Error` component
  (`{"error": {"code", "message", "details"}}`), with an example. The codes an operation can give are
  derived from what it declares: a key -> 401 (a tenant key also 403 for a missing scope or the admin
  key, and 429 when its budget is used up); a path parameter -> 404; any parameter or body -> 422; a
  body -> 400 (not JSON) and 415 (another declared type). A route adds the others it raises itself
  with `responses=errors(409)`. FastAPI's `{"detail": [...]}` schemas are removed.
- **Examples.** A route gives its request and answer examples with
  `openapi_extra=examples(request=..., answer=..., status=201)`, or its body model declares them
  (`json_schema_extra={"examples": [...]}`, `Body(examples=[...])`) and the first is shown; an
  answer without one gets an example built from its response schema (`example_from_schema`), so
  every success answer shows one.

A new route complies by: `summary=`, a docstring (the description), `openapi_extra=examples(...)` when
it takes a body, and `responses=errors(...)` for codes beyond the derived ones::

    @router.post("", status_code=201, summary="Create a thing", responses=errors(409),
                 openapi_extra=examples(request={"name": "x"}, answer={"id": "th_1", "name": "x"}, status=201))
    def create_thing(body: ThingCreate, tenant: AdminTenant) -> ThingPublic:
        \"\"\"What it does, what it answers, and when it refuses.\"\"\"

`tests/api/test_openapi_description.py` fails for any operation without a summary, a description,
examples or its error responses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, TypeAdapter

STATIC = Path(__file__).resolve().parent / "static"
STATIC_URL = "/docs/static"


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. `not_found`, `invalid_input`.")
    message: str = Field(description="One human-readable sentence.")
    details: Any = Field(
        None,
        description='Context of the error. For a 422 always `{"errors": [{"loc", "message", "type"}], ...}`.',
    )


class Error(BaseModel):
    """Every error answer of the service (docs/api.md, "Errors")."""

    error: ErrorDetail


ERRORS: dict[int, tuple[str, str, str]] = {
    400: ("bad_request", "The body cannot be read (not JSON, empty).", "The body is not valid JSON."),
    401: (
        "unauthorized",
        "No key, an unknown key or a revoked key.",
        "Send an API key as 'Authorization: Bearer <key>'.",
    ),
    403: (
        "forbidden",
        "The key lacks the route's scope, or the admin key was sent to a tenant route.",
        "This key lacks the 'admin' scope.",
    ),
    404: ("not_found", "An id this tenant does not own (another tenant's id too), or no such route.", "No such id."),
    409: ("conflict", "The change clashes with the current state (a duplicate name, a finished job).", "Taken."),
    413: ("payload_too_large", "The body or the number of items is over a configured limit.", "Too large."),
    415: (
        "unsupported_media_type",
        "The body is declared as a type this route does not read.",
        "This route takes a JSON body: send it with 'Content-Type: application/json'.",
    ),
    422: ("invalid_input", "A value is not acceptable; `details.errors` lists each field.", "name: Field required"),
    429: ("budget_exceeded", "The tenant's query budget or rate limit is used up (`Retry-After`).", "Budget used up."),
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for the error codes a route raises beyond the derived ones (see the module doc)."""
    return {code: {"model": Error, "description": ERRORS[code][1]} for code in codes}


# FastAPI writes the document without nulls (exclude_none), which would drop `"error": null` from an
# example; an example travels as JSON text under this key and `complete` puts it back as `example`.
EXAMPLE_JSON = "x-example-json"


def examples(request: Any = None, answer: Any = None, status: int = 200) -> dict[str, Any]:
    """`openapi_extra=` with the request body's example and the answer's (for the success `status`)."""
    extra: dict[str, Any] = {}
    if request is not None:
        extra["requestBody"] = {"content": {"application/json": {EXAMPLE_JSON: json.dumps(request)}}}
    if answer is not None:
        extra["responses"] = {str(status): {"content": {"application/json": {EXAMPLE_JSON: json.dumps(answer)}}}}
    return extra


def restore_examples(node: Any) -> None:
    """Every `x-example-json` in the document becomes the `example` it carries (nulls kept)."""
    if isinstance(node, dict):
        if EXAMPLE_JSON in node:
            node["example"] = json.loads(node.pop(EXAMPLE_JSON))
        for value in node.values():
            restore_examples(value)
    elif isinstance(node, list):
        for value in node:
            restore_examples(value)


# Schemas a route refers to by `component(...)` (a body it validates itself, like the insight union).
COMPONENTS: dict[str, Any] = {}


def component(name: str, type_: Any) -> dict[str, str]:
    """A `$ref` to `type_`'s JSON schema, added to the document's components as `name`."""
    COMPONENTS[name] = type_
    return {"$ref": f"#/components/schemas/{name}"}


def error_example(code: int) -> dict[str, Any]:
    name, _, message = ERRORS[code]
    error: dict[str, Any] = {"code": name, "message": message}
    if code == 422:
        error["details"] = {"errors": [{"loc": ["body", "name"], "message": "Field required", "type": "missing"}]}
    return {"error": error}


def derived_codes(operation: dict[str, Any]) -> set[int]:
    schemes = {name for requirement in operation.get("security", []) for name in requirement}
    parameters = operation.get("parameters", [])
    codes: set[int] = set()
    if schemes:
        codes.add(401)
    if "tenantKey" in schemes:
        codes |= {403, 429}
    if any(p.get("in") == "path" for p in parameters):
        codes.add(404)
    if parameters or "requestBody" in operation:
        codes.add(422)
    if "requestBody" in operation:
        codes |= {400, 415}
    return codes


# Plausible text for a string property by its name, when its schema gives no example.
NAMED_STRINGS = {
    "id": "job_4f5e0eaa5fe24a0faff4",
    "tenant_id": "tn_0d6ff444513e4c4cb915",
    "name": "Growth",
    "title": "Weekly buyers",
    "timezone": "Europe/Oslo",
    "event": "signup",
    "distinct_id": "u-1",
    "kind": "trends",
    "description": "People with at least one purchase in the week.",
    "message": "Done.",
    "key": "ae_live_8Jc2rX0e9bKqVn4tHwZ1",
    "prefix": "ae_live_8Jc2",
    "url": "https://example.com/hooks/reports",
    "download_url": "http://127.0.0.1:3008/v1/files/tn_0d6ff444513e4c4cb915/exports/growth.csv?expires=1765100000&signature=9c1e",
}


def example_from_schema(schema: dict[str, Any], components: dict[str, Any], depth: int = 0, name: str = "") -> Any:
    """A plausible value for a JSON schema: its own example, default or first choice, else by type
    (a string by its property's name)."""
    if "$ref" in schema:
        return example_from_schema(components.get(schema["$ref"].rsplit("/", 1)[-1], {}), components, depth, name)
    for key in ("example", "const"):
        if key in schema:
            return schema[key]
    if schema.get("examples"):
        return schema["examples"][0]
    if schema.get("default") is not None:
        return schema["default"]
    if "enum" in schema:
        return schema["enum"][0]
    if depth > 12:  # deep enough for every answer; stops the recursive cohort `Group`
        return None
    for key in ("anyOf", "oneOf", "allOf"):
        choices = [c for c in schema.get(key, []) if c.get("type") != "null"]
        if choices:
            return example_from_schema(choices[0], components, depth + 1, name)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {
            key: example_from_schema(sub, components, depth + 1, key)
            for key, sub in schema.get("properties", {}).items()
        }
    if kind == "array":
        return [example_from_schema(schema.get("items", {}), components, depth + 1, name)]
    formats = {"date-time": "2026-12-01T09:30:00Z", "date": "2026-12-01", "uri": "https://example.com/"}
    text = NAMED_STRINGS.get(name) or (
        f"{name.removesuffix('_id')[:3]}_4f5e0eaa5fe24a0faff4" if name.endswith("_id") else name
    )
    return {
        "string": formats.get(schema.get("format", ""), text or "text"),
        "integer": 0,
        "number": 0.0,
        "boolean": False,
    }.get(kind or "")


def _own_examples(schema: dict[str, Any], schemas: dict[str, Any]) -> list[Any]:
    """The examples a request schema declares itself (following one `$ref`), never invented ones."""
    if "$ref" in schema:
        schema = schemas.get(schema["$ref"].rsplit("/", 1)[-1], {})
    if "example" in schema:
        return [schema["example"]]
    return list(schema.get("examples") or [])


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """Apply the conventions above to a document from `get_openapi` (in place; returned)."""
    restore_examples(document.get("paths", {}))
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(Error.model_json_schema(ref_template="#/components/schemas/{model}").pop("$defs", {}))
    schemas["Error"] = Error.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas["Error"].pop("$defs", None)
    for name, type_ in COMPONENTS.items():
        schema = TypeAdapter(type_).json_schema(ref_template="#/components/schemas/{model}")
        for sub_name, sub in schema.pop("$defs", {}).items():
            schemas.setdefault(sub_name, sub)
        schemas[name] = schema
    for item in document.get("paths", {}).values():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            declared = {int(code) for code in responses if code.isdigit() and 400 <= int(code) < 500}
            for code in sorted(declared | derived_codes(operation)):
                if code not in ERRORS:
                    continue
                entry = responses.setdefault(str(code), {})
                if not entry.get("description") or entry["description"] in ("Validation Error", "Successful Response"):
                    entry["description"] = ERRORS[code][1]
                entry["content"] = {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/Error"},
                        "example": error_example(code),
                    }
                }
            # A body model (or `Body(examples=...)`) that carries its own examples: show the first as
            # the request example, so a route need not repeat it in `openapi_extra`.
            for media in operation.get("requestBody", {}).get("content", {}).values():
                if "example" not in media and "examples" not in media:
                    own = _own_examples(media.get("schema", {}), schemas)
                    if own:
                        media["example"] = own[0]
            for code, entry in responses.items():
                if not code.startswith("2"):
                    continue
                for media in entry.get("content", {}).values():
                    if "example" not in media and "examples" not in media and "schema" in media:
                        media["example"] = example_from_schema(media["schema"], schemas)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document


def install(app: FastAPI) -> None:
    """Serve /docs and /redoc from the package and complete /openapi.json (create with docs_url=None)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            app.openapi_schema = complete(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise
    app.mount(STATIC_URL, StaticFiles(directory=STATIC), name="api-docs-static")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url=f"{STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{STATIC_URL}/swagger-favicon-32x32.png",
            swagger_ui_parameters={
                "persistAuthorization": True,
                "validatorUrl": None,
                "tryItOutEnabled": True,
                "docExpansion": "none",
            },
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - API",
            redoc_js_url=f"{STATIC_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{STATIC_URL}/swagger-favicon-32x32.png",
            with_google_fonts=False,
        )
