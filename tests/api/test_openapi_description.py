"""Issue 24 item 2: the API description is complete, mechanically (api/openapi.py).

Every operation of `app.openapi()` has a summary, a description, an example for its request body and
for each success answer, its error responses in the real shape (`Error`), and a security requirement
when it needs a key. `/docs` and `/redoc` load only assets served by the package."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def has_example(media: dict[str, Any]) -> bool:
    return "example" in media or bool(media.get("examples"))


def test_every_operation_is_described(document: dict[str, Any]) -> None:
    missing: list[str] = []
    for name, operation in operations(document):
        if not operation.get("summary"):
            missing.append(f"{name}: summary")
        if len(operation.get("description", "").strip()) < 20:
            missing.append(f"{name}: description (the route's docstring)")
        body = operation.get("requestBody", {}).get("content", {})
        if body and not any(has_example(media) for media in body.values()):
            missing.append(f"{name}: request example (openapi_extra=examples(request=...))")
        for code, response in operation["responses"].items():
            content = response.get("content", {}) if code.startswith("2") else {}
            if content and not any(has_example(media) for media in content.values()):
                missing.append(f"{name}: example answer for {code}")
    assert len(operations(document)) >= 100
    assert not missing, f"{len(missing)} gaps:\n" + "\n".join(missing)


def test_every_operation_lists_its_errors_in_the_real_shape(document: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in json.dumps(document)
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    wrong: list[str] = []
    for name, operation in operations(document):
        codes = {int(code) for code in operation["responses"] if code.isdigit()}
        schemes = {scheme for requirement in operation.get("security", []) for scheme in requirement}
        expected = set()
        if schemes:
            expected.add(401)
        if "tenantKey" in schemes:
            expected |= {403, 429}
        if "{" in name:
            expected.add(404)
        if operation.get("parameters") or operation.get("requestBody"):
            expected.add(422)
        if operation.get("requestBody"):
            expected |= {400, 415}
        if expected - codes:
            wrong.append(f"{name}: lacks {sorted(expected - codes)}")
        for code, response in operation["responses"].items():
            if code.startswith("4"):
                media = response["content"]["application/json"]
                if media["schema"] != {"$ref": "#/components/schemas/Error"} or "example" not in media:
                    wrong.append(f"{name}: {code} is not the Error shape with an example")
    assert not wrong, "\n".join(wrong)


def test_keys_are_declared_so_swagger_can_send_them(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["tenantKey"]["type"] == "http" and schemes["tenantKey"]["scheme"] == "bearer"
    assert schemes["adminKey"]["scheme"] == "bearer"
    # Signed file URLs and embed tokens carry their credential in the path.
    unsecured = [
        name
        for name, operation in operations(document)
        if name.split()[1].startswith("/v1/")
        and not operation.get("security")
        and "/v1/files/" not in name
        and "/v1/embed/" not in name
    ]
    assert not unsecured, unsecured


def test_insight_bodies_are_typed_per_kind(document: dict[str, Any]) -> None:
    body = document["paths"]["/v1/insights"]["post"]["requestBody"]["content"]["application/json"]
    schema = document["components"]["schemas"][body["schema"]["$ref"].rsplit("/", 1)[-1]]
    assert schema["discriminator"]["propertyName"] == "kind"
    assert set(schema["discriminator"]["mapping"]) >= {"trends", "funnels", "retention", "engagement"}
    kind = document["paths"]["/v1/insights/{kind}"]["post"]["requestBody"]["content"]["application/json"]
    assert set(kind["examples"]) >= {"trends", "funnels", "retention", "engagement"}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_their_assets_from_the_package(client: TestClient, page: str) -> None:
    html = client.get(page)
    assert html.status_code == 200
    assert "https://" not in html.text.replace("https://fastapi.tiangolo.com", "")
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css") if page == "/docs" else ("redoc.standalone.js",):
        assert f"/docs/static/{asset}" in html.text
        response = client.get(f"/docs/static/{asset}")
        assert response.status_code == 200 and len(response.content) > 100_000


def test_every_example_matches_its_schema(document: dict[str, Any]) -> None:
    """A hand-written example that drifted from its model would teach callers the wrong shape."""
    registry = Registry().with_resource("urn:api", Resource.from_contents(document, DRAFT202012))
    wrong: list[str] = []
    for name, operation in operations(document):
        media_types = [("request", media) for media in operation.get("requestBody", {}).get("content", {}).values()]
        media_types += [
            (code, media)
            for code, response in operation["responses"].items()
            for media in response.get("content", {}).values()
        ]
        for where, media in media_types:
            if "schema" not in media or media["schema"].get("type") == "string":
                continue
            values = [media["example"]] if "example" in media else []
            values += [item["value"] for item in media.get("examples", {}).values()]
            schema = {**media["schema"], "$schema": "https://json-schema.org/draft/2020-12/schema"}
            schema = json.loads(json.dumps(schema).replace('"#/components', '"urn:api#/components'))
            validator = Draft202012Validator(schema, registry=registry)
            for value in values:
                for error in validator.iter_errors(value):
                    wrong.append(f"{name} {where}: {error.message[:200]}")
    assert not wrong, "\n".join(wrong)
