"""The served OpenAPI document describes every /api/v1 route, and only those."""

from __future__ import annotations

import re
from typing import Any

API = "/api/v1"
METHODS = {"get", "post", "put", "patch", "delete"}


def _routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API + "/"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule[len(API):])
        routes.update((path, method.lower()) for method in rule.methods if method.lower() in METHODS)
    return routes


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_document_is_public_and_covers_every_route(app, client):
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200, "no login needed"
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    documented = {(path, method) for path, item in document["paths"].items() for method in item if method in METHODS}
    routes = _routes(app)
    assert routes - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routes == set(), "documented operations that do not exist"


def test_document_is_consistent(client):
    document = client.get(f"{API}/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    for ref in _refs(document):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
    assert set(document["components"]["securitySchemes"]) == {"bearerToken", "sessionCookie"}
    operation_ids = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            operation_ids.append(operation["operationId"])
            for name in re.findall(r"{(\w+)}", path):
                assert any(p["name"] == name and p["in"] == "path" for p in operation.get("parameters", [])), (
                    f"{method.upper()} {path} does not declare {name}")
            if path != "/openapi.json":
                assert operation["responses"]["401"]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"}
    assert len(operation_ids) == len(set(operation_ids))
