"""API keys made in the back office authenticate the API and stop at once when revoked; the audit
log lists staff actions, filters them and exports them as CSV; support staff see "no permission"."""
from __future__ import annotations

import csv
import io
import re

import pytest

from tests.factories import make_user
from tests.office.conftest import PASSWORD, csrf_from, sign_in


@pytest.fixture
def admin(client, merchant_a):
    user = make_user(merchant_a, "admin@alpha.example", role="admin", password=PASSWORD)
    assert sign_in(client, user.email).status_code == 303
    return client


def test_a_key_created_in_the_browser_authenticates_the_api_until_it_is_revoked(app, admin):
    page = admin.get("/office/api-keys").get_data(as_text=True)
    response = admin.post("/office/api-keys", data={"csrf_token": csrf_from(page), "name": "Shopware live"})
    assert response.status_code == 201
    html = response.get_data(as_text=True)
    secret = re.search(r'id="new-secret" class="mono" value="([^"]+)"', html).group(1)
    assert "nur dieses eine Mal" in html
    assert secret not in admin.get("/office/api-keys").get_data(as_text=True)  # shown once only
    api = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    assert api.get("/api/v1/invoices/RE-NONE", headers=headers).status_code == 404  # authenticated, no such invoice
    listing = admin.get("/office/api-keys").get_data(as_text=True)
    assert "Shopware live" in listing and secret[:12] in listing
    revoke = re.search(r'action="(/office/api-keys/\d+/revoke)"', listing).group(1)
    assert admin.post(revoke, data={"csrf_token": csrf_from(listing)}).status_code == 303
    assert api.get("/api/v1/invoices/RE-NONE", headers=headers).status_code == 401
    assert "gesperrt am" in admin.get("/office/api-keys").get_data(as_text=True)


def test_the_audit_log_filters_staff_actions_and_exports_them(admin):
    page = admin.get("/office/api-keys").get_data(as_text=True)
    admin.post("/office/api-keys", data={"csrf_token": csrf_from(page), "name": "ERP"})
    def entries(url):
        return re.findall(r'<span class="what">([^<]+)</span>', admin.get(url).get_data(as_text=True))

    assert entries("/office/audit") == ["API-Schlüssel „ERP“ erstellt", "Im Backoffice angemeldet"]
    assert entries("/office/audit?action=staff.api_key.create") == ["API-Schlüssel „ERP“ erstellt"]
    assert entries("/office/audit?invoice=RE-NONE") == []
    raw = admin.get("/office/audit/export.csv?action=staff.api_key.create").get_data()
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert [r["what"] for r in rows] == ["API-Schlüssel „ERP“ erstellt"]
    assert rows[0]["who"] == "Test User"


def test_support_staff_get_a_clear_no_permission_page(signed_in):
    for url in ("/office/api-keys", "/office/audit"):
        response = signed_in.get(url)
        assert response.status_code == 403
        assert "Keine Berechtigung" in response.get_data(as_text=True)
