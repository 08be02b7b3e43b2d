"""The debtor portal: the pages a debtor reaches through the signed link in a reminder.

Entry at /p/<token>; every other page lives under /portal/ and works from the session
the entry started (see `portal.debtor.session`). Pages work without JavaScript; htmx
only makes partial updates faster.
"""
from flask import Blueprint

bp = Blueprint("debtor", __name__)

from portal.debtor import guard, entry, pages, payment, requests, preferences, branding  # noqa: E402,F401
from portal.debtor import logo  # noqa: E402,F401
