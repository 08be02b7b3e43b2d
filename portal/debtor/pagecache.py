"""A small per-process cache of rendered portal pages (the overview), keyed by what they show.

Rendering the overview costs several times more than reading its data (Jinja includes,
dozens of translated strings, Babel number and date formatting). Most requests render
exactly what the same debtor saw a moment ago, so the page is kept, bounded (LRU), in
each worker process.

The key is not a version number that writers must remember to bump: it is the data
itself. It holds the merchant and the debtor (every column of both rows, so any change
of a setting, a preference, the link version or the brand counts), the page's own
inputs as the view read them this very request (invoice rows with their ledger sums and
due states for today, cases), and everything else the layout reads from the request:
language, step-up state, path. A booking, a status change, a new case, a language switch
or a new day therefore simply misses the cache; the data can never be older than the
queries the view ran anyway. Debtor and merchant id are in every key, so one debtor's
page is never served to another.

What must differ per request stays out of the cached HTML:
- the CSRF token (the "leave the portal" form): the page is rendered with a random,
  per-process placeholder, which is replaced by this session's token on every response;
- flashed messages: a request with flashes pending renders afresh and is not cached;
- query strings: not cached (the language switch links back to the path with its query,
  and nobody should be able to fill the cache with variants).
"""
from __future__ import annotations

import json
import secrets
import threading
from collections import OrderedDict
from collections.abc import Hashable

from flask import current_app, g, render_template, request, session
from flask_babel import get_locale
from flask_wtf.csrf import generate_csrf

from portal.debtor import session as portal_session
from portal.models import Debtor, Merchant

# Unguessable, so no data a debtor or merchant can enter will ever contain it.
CSRF_PLACEHOLDER = f"csrf-placeholder-{secrets.token_hex(16)}"
DEFAULT_SIZE = 512


class LRU:
    """A bounded mapping that forgets the least recently used entry first (thread-safe)."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, str] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> str | None:
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: str) -> None:
        if self.maxsize <= 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


def cache() -> LRU:
    """This app's cache (one per app and process; PORTAL_PAGE_CACHE_SIZE entries, 0 turns it off).

    Off while templates reload on change (debug mode): an edited template shows at once.
    """
    ext = current_app.extensions
    lru = ext.get("settle_portal_pages")
    if lru is None:
        size = 0 if current_app.jinja_env.auto_reload else int(current_app.config.get("PORTAL_PAGE_CACHE_SIZE", DEFAULT_SIZE))
        lru = ext["settle_portal_pages"] = LRU(size)
    return lru


def _columns(model) -> tuple[str, ...]:
    return tuple(attr.key for attr in model.__mapper__.column_attrs)


_ROW_KEYS: dict[type, tuple[str, ...]] = {}


def _value(value):
    # JSON columns (lists, dicts) as their canonical text: hashable, and equal exactly when the data is.
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, default=str)
    return value


def row_key(obj) -> tuple:
    """Every column value of an ORM row, in a fixed order (a part of a page key)."""
    cls = type(obj)
    keys = _ROW_KEYS.get(cls)
    if keys is None:
        keys = _ROW_KEYS[cls] = _columns(cls)
    return tuple(_value(getattr(obj, k)) for k in keys)


_row = row_key


def _page_key(template: str, debtor: Debtor, merchant: Merchant, shown: Hashable) -> Hashable | None:
    """Everything the page shows, or None when this request must not use the cache."""
    if request.query_string or session.get("_flashes"):
        return None
    key = (
        template,
        merchant.id,
        debtor.id,
        _row(merchant),
        _row(debtor),
        str(get_locale()),
        portal_session.is_verified(debtor),
        request.script_root,
        request.path,
        g.get("lang_next"),
        shown,
    )
    return key


def render_page(template: str, debtor: Debtor, *, key: Hashable | None = None, **context) -> str:
    """`render_template(template, **context)` for this debtor's session, from the cache when the
    same debtor was shown exactly this page before; the CSRF token is always this session's.

    `key`: the values the page shows, when the context holds objects that do not compare by value
    (ORM rows): it must then cover everything the template reads from the context. Without it the
    context itself is the key."""
    key = _page_key(template, debtor, debtor.merchant, tuple(sorted(context.items())) if key is None else key)
    if key is None:
        return render_template(template, **context)
    lru = cache()
    try:
        html = lru.get(key)
    except TypeError:  # a column or context value that cannot be part of a key (e.g. JSON): no caching
        return render_template(template, **context)
    if html is None:
        html = render_template(template, csrf_token=lambda: CSRF_PLACEHOLDER, **context)
        lru.put(key, html)
    if CSRF_PLACEHOLDER in html:
        html = html.replace(CSRF_PLACEHOLDER, generate_csrf())
    return html
