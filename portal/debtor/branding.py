"""Per-merchant branding: a tiny stylesheet with contrast-checked colours, logo and shop links.

Colours reach the page through /portal/brand/<merchant>.css (CSP style-src 'self' allows
no inline styles); the URL carries a hash of the colours, so the file can be cached for
a year and still changes the moment the merchant changes a colour.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from flask import Response, abort, request, url_for

from portal.debtor import bp
from portal.domain.contrast import Palette, palette
from portal.extensions import db
from portal.models import Merchant


@lru_cache(maxsize=256)
def _palette(primary: str | None, accent: str | None) -> Palette:
    return palette(primary, accent)


def stylesheet(p: Palette) -> str:
    return (
        ":root{"
        f"--brand:{p.primary};--brand-dark:{p.primary_dark};--on-brand:{p.on_primary};"
        f"--accent:{p.accent};--text:{p.text}"
        "}\n"
    )


def _version(p: Palette) -> str:
    return hashlib.sha256(stylesheet(p).encode()).hexdigest()[:12]


def safe_logo(url: str | None) -> str | None:
    """Only same-origin paths and inline images: the portal makes no third-party requests."""
    if not url:
        return None
    if url.startswith("/") and not url.startswith("//"):
        return url
    if url.startswith("data:image/"):
        return url
    return None


def safe_link(url: str | None) -> str | None:
    if url and (url.startswith("https://") or url.startswith("http://")):
        return url
    return None


@dataclass(frozen=True)
class Brand:
    name: str
    css_url: str
    logo_url: str | None
    imprint_url: str | None
    privacy_url: str | None


def brand_for(merchant: Merchant) -> Brand:
    p = _palette(merchant.primary_color, merchant.accent_color)
    return Brand(
        name=merchant.name,
        css_url=url_for("debtor.brand_css", merchant_id=merchant.id, v=_version(p)),
        logo_url=safe_logo(merchant.logo_url),
        imprint_url=safe_link(merchant.imprint_url),
        privacy_url=safe_link(merchant.privacy_url),
    )


@bp.route("/portal/brand/<int:merchant_id>.css")
def brand_css(merchant_id: int):
    merchant = db.session.get(Merchant, merchant_id)
    if merchant is None:
        abort(404)
    p = _palette(merchant.primary_color, merchant.accent_color)
    response = Response(stylesheet(p), mimetype="text/css")
    if request.args.get("v") == _version(p):
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    else:
        response.headers["Cache-Control"] = "public, max-age=300"
    response.set_etag(_version(p))
    return response.make_conditional(request)
