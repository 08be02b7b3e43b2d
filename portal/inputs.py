"""The request guard: text that cannot be stored never reaches a view (no 500 from any input).

Every request's path, query string, form fields and uploaded file names, and for the shop API its
JSON body, are checked with `portal.domain.text` before any view, database query or template sees
them. The shop API answers 422 with field errors like every other invalid input (documented in the
OpenAPI document); pages answer 400 with their usual error page. JSON is parsed strictly: `NaN`,
`Infinity` and nesting beyond `MAX_JSON_DEPTH` are not JSON a shop sends, and a document nested so
deep that the parser would recurse out of the stack is refused instead of crashing the request.

The Stripe webhook's body is left to its view: the signature is checked on the raw bytes first, and
a signed body that is not a usable event is answered 400 and recorded there.
"""
from __future__ import annotations

import json

from flask import Flask, abort, current_app, jsonify, request
from flask.json.provider import DefaultJSONProvider

from portal.domain.text import DEPTH_MESSAGE, json_problems, text_problem


class JSONTooDeep(ValueError):
    """JSON nested so deep that the parser ran out of stack."""


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON, but `NaN`/`Infinity` and runaway nesting are a parse error (a ValueError, which
    `request.get_json(silent=True)` turns into None) rather than a float or a RecursionError."""

    def loads(self, s, **kwargs):
        kwargs.setdefault("parse_constant", _refuse_constant)
        try:
            return json.loads(s, **kwargs)
        except RecursionError as exc:
            raise JSONTooDeep("JSON nested too deeply") from exc


def _request_text_problems() -> dict[str, list[str]]:
    """field → messages for the path, the query string, form fields and file names."""
    found: dict[str, list[str]] = {}

    def check(where: str, text: str) -> None:
        problem = text_problem(text)
        if problem:
            found.setdefault(where, []).append(problem)

    check("path", request.path)
    for key, value in request.args.items(multi=True):
        check(f"query.{key}", key)
        check(f"query.{key}", value)
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.mimetype in (
        "application/x-www-form-urlencoded", "multipart/form-data"
    ):
        for key, value in request.form.items(multi=True):
            check(key, key)
            check(key, value)
        for key, upload in request.files.items(multi=True):
            check(key, upload.filename or "")
    return found


def _api_body_problems() -> dict[str, list[str]]:
    if not request.is_json:
        return {}
    raw = request.get_data(cache=True)
    if not raw:
        return {}
    body = request.get_json(silent=True)  # cached: the view reads the same parse
    if body is None:
        try:
            current_app.json.loads(raw)
        except JSONTooDeep:
            return {"": [DEPTH_MESSAGE]}
        except ValueError:
            pass
        return {}  # no JSON (or NaN/Infinity): the view answers it with its own 422
    found: dict[str, list[str]] = {}
    for where, problem in json_problems(body):
        found.setdefault(where, []).append(problem)
    return found


def guard():
    if request.path.startswith("/api/"):
        return None  # the API blueprint runs `api_guard` after authentication
    problems = _request_text_problems()
    if problems:
        abort(400, description="The request contains characters that cannot be accepted (NUL bytes or invalid Unicode).")
    return None


def api_guard():
    """For the shop API (after the key is checked): 422 with `fields`, as for any invalid field."""
    problems = _request_text_problems()
    problems.update(_api_body_problems())
    if problems:
        response = jsonify(error="validation_failed", message="The request has invalid fields.", fields=problems)
        response.status_code = 422
        return response
    return None


def init_app(app: Flask) -> None:
    app.json = StrictJSONProvider(app)
    app.before_request(guard)
