"""Flask-Limiter, paid only by the requests that have a limit.

Flask-Limiter hooks three functions into every request: a check before it (for application-,
default- and blueprint-wide limits), the rate-limit headers after it, and a reset of its
per-request state at the end. Settle sets no application or default limits; its limits sit on
the views that need them (link entry, new-link form, step-up check, questions, sign-in, …),
whose decorators check them when the view is called, and on the shop API blueprint. So the
check before the request runs only for a blueprint that has limits of its own (or for every
request again as soon as application, default or meta limits are configured), and the other
two run only when this request's limiter state was created — by a check or a decorated view —
which is exactly when they have something to do (headers, deductions after a failed sign-in).
"""
from __future__ import annotations

from flask import Flask, request
from flask.globals import request_ctx
from flask_limiter import Limiter


def _limited_blueprints(limiter: Limiter) -> frozenset[str] | None:
    """Blueprints with limits of their own; None when every request has to be checked."""
    manager = limiter.limit_manager
    if manager.application_limits or manager.default_limits or limiter._meta_limits:
        return None
    return frozenset(manager._blueprint_limits)


def init_app(app: Flask, limiter: Limiter) -> None:
    """Replace Flask-Limiter's per-request hooks with gated ones (call after `limiter.init_app`)."""
    before = app.before_request_funcs[None]
    after = app.after_request_funcs[None]
    teardown = app.teardown_request_funcs[None]
    check = next((f for f in before if getattr(f, "__func__", None) is Limiter._check_request_limit), None)
    inject = next((f for f in after if getattr(getattr(f, "func", None), "__qualname__", "") == "Limiter.__inject_headers"), None)
    release = next((f for f in teardown if getattr(f, "__name__", "") == "__release_context"
                    or getattr(getattr(f, "__func__", None), "__qualname__", "") == "Limiter.__release_context"), None)
    if check is None or inject is None or release is None:
        return  # limits switched off (RATELIMIT_ENABLED=False): Flask-Limiter registered no hooks to gate

    def check_where_limited():
        limited = _limited_blueprints(limiter)
        blueprint = request.blueprint
        if limited is None or (blueprint and any(name in limited for name in _with_parents(blueprint))):
            return check()
        return None

    def inject_when_used(response):
        return inject(response) if hasattr(request_ctx, "_limiter_request_context") else response

    def release_when_used(exc=None):
        if hasattr(request_ctx, "_limiter_request_context"):
            release(exc)

    before[before.index(check)] = check_where_limited
    after[after.index(inject)] = inject_when_used
    teardown[teardown.index(release)] = release_when_used


def _with_parents(blueprint: str) -> list[str]:
    """"a.b.c" → ["a.b.c", "a.b", "a"] (a nested blueprint is limited by its parents' limits too)."""
    parts = blueprint.split(".")
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)]
