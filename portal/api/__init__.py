"""JSON API for shops: `/api/v1`, authenticated with a Bearer API key per merchant."""
from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from portal.api import auth, views  # noqa: E402,F401
