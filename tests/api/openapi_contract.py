"""Checks real API answers against the OpenAPI document the API serves.

`check_response(spec, method, path, status, body)` finds the operation for the request
path, requires the status to be documented for it and validates the body with
jsonschema (JSON Schema 2020-12, the dialect of OpenAPI 3.1), resolving `$ref`s
inside the document. `ContractClient` runs that check on every answer it gets.
"""
from __future__ import annotations

import re

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_URI = "urn:settle:openapi"


class ContractViolation(AssertionError):
    """An answer the OpenAPI document does not describe."""


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def find_operation(spec: dict, method: str, path: str) -> tuple[str, dict]:
    """(path template, operation) for a request path such as /api/v1/invoices/RE-1/payments."""
    base = spec.get("servers", [{"url": ""}])[0]["url"].rstrip("/")
    if not path.startswith(base + "/"):
        raise ContractViolation(f"{path} is outside the API's server URL {base}")
    relative = path[len(base) :]
    matches = []
    for template, item in spec["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", ".+", re.escape(template)) + "$"
        if re.match(pattern, relative) and method.lower() in item:
            matches.append(template)
    if not matches:
        raise ContractViolation(f"{method.upper()} {relative} is not documented")
    # The most specific template (most literal characters) wins: /invoices/{number}/payments over /invoices/{number}.
    template = max(matches, key=lambda t: len(re.sub(r"\{[^}]+\}", "", t)))
    return template, spec["paths"][template][method.lower()]


def check_response(spec: dict, method: str, path: str, status: int, body) -> None:
    template, operation = find_operation(spec, method, path)
    responses = operation.get("responses", {})
    if str(status) not in responses:
        raise ContractViolation(
            f"{method.upper()} {template} answered {status}, which is not documented (documented: {', '.join(responses)})"
        )
    content = responses[str(status)].get("content")
    if content is None:
        if body not in (None, b"", ""):
            raise ContractViolation(f"{method.upper()} {template} {status} documents no body but got one")
        return
    if "application/json" not in content:
        raise ContractViolation(f"{method.upper()} {template} {status} documents no JSON body")
    pointer = "/".join(
        _escape(p) for p in ("paths", template, method.lower(), "responses", str(status), "content", "application/json", "schema")
    )
    registry = Registry().with_resource(SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012))
    validator = Draft202012Validator(
        {"$ref": f"{SPEC_URI}#/{pointer}"}, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        details = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors)
        raise ContractViolation(f"{method.upper()} {template} {status} does not match its schema: {details}")


class ContractClient:
    """A test client for the shop API that checks every answer against the served OpenAPI document."""

    def __init__(self, client, key: str | None = None):
        self.client = client
        self.key = key
        self.spec = client.get("/api/v1/openapi.json").get_json()
        self.checked: list[tuple[str, str, int]] = []

    def _call(self, method: str, path: str, *, key: str | None = ..., **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        key = self.key if key is ... else key
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        response = getattr(self.client, method)(path, headers=headers, **kwargs)
        check_response(self.spec, method, path, response.status_code, response.get_json(silent=True))
        self.checked.append((method.upper(), path, response.status_code))
        return response

    def get(self, path: str, **kwargs):
        return self._call("get", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self._call("post", path, **kwargs)
