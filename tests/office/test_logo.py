"""Logo upload: PNG and JPEG checked by content and re-encoded, SVG and disguised files refused, stored under
STORAGE_DIR and served from our own origin; an external logo address is refused with a clear message."""
from __future__ import annotations

import io
from pathlib import Path

from PIL import Image
from sqlalchemy import select

from portal.extensions import db
from portal.models import Event
from tests.factories import make_user
from tests.office.conftest import csrf_from, sign_in
from tests.office.test_settings import _form


def image(fmt: str = "PNG", size=(240, 60), color=(31, 78, 121)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt)
    return out.getvalue()


def _admin(client, merchant):
    make_user(merchant, "admin@alpha.example", role="admin", password="correct horse battery")
    assert sign_in(client, "admin@alpha.example").status_code == 303


def post_logo(client, data: bytes, name: str):
    token = csrf_from(client.get("/office/settings/logo").get_data(as_text=True))
    return client.post("/office/settings/logo", data={"csrf_token": token, "logo": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_a_png_logo_is_stored_under_storage_dir_and_served_from_our_origin(client, merchant_a, app):
    _admin(client, merchant_a)
    response = post_logo(client, image("PNG") + b"<script>appended</script>", "logo.png")
    assert response.status_code == 303
    db.session.expire_all()
    url = merchant_a.logo_url
    assert url.startswith(f"/portal/brand/{merchant_a.id}/") and url.endswith(".png")
    stored = list((Path(app.config["STORAGE_DIR"]) / "logos" / str(merchant_a.id)).iterdir())
    assert len(stored) == 1 and b"<script>" not in stored[0].read_bytes()  # re-encoded: nothing rides along
    with client.get(url) as served:
        assert served.status_code == 200 and served.mimetype == "image/png"
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        assert Image.open(io.BytesIO(served.data)).size == (240, 60)
    page = client.get("/office/settings/logo").get_data(as_text=True)
    assert f'src="{url}"' in page and "Ihr Logo wurde gespeichert" in page
    assert db.session.execute(select(Event).where(Event.kind == "staff.settings.logo")).scalar_one().data["action"] == "uploaded"

    from portal.debtor.branding import brand_for

    with app.test_request_context():
        assert brand_for(merchant_a).logo_url == url  # the portal shows it


def test_a_jpeg_is_recognised_by_its_content_whatever_its_name(client, merchant_a):
    _admin(client, merchant_a)
    assert post_logo(client, image("JPEG"), "logo.png").status_code == 303
    db.session.expire_all()
    assert merchant_a.logo_url.endswith(".jpg")
    with client.get(merchant_a.logo_url) as served:
        assert served.mimetype == "image/jpeg"


def test_svg_and_disguised_or_oversized_files_are_refused_with_a_reason(client, merchant_a):
    _admin(client, merchant_a)
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    cases = [
        (svg, "logo.png", "SVG-Logos werden nicht angenommen"),
        (b"GIF89a" + b"\0" * 40, "logo.png", "kein PNG- oder JPEG-Bild"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "logo.png", "lässt sich nicht lesen"),
        (image("PNG", size=(5000, 10)), "wide.png", "größer als 4000 × 4000 Pixel"),
    ]
    for data, name, message in cases:
        response = post_logo(client, data, name)
        assert response.status_code == 422, name
        assert message in response.get_data(as_text=True), message
    db.session.expire_all()
    assert merchant_a.logo_url is None


def test_a_logo_over_2_mb_is_refused_before_it_is_decoded():
    import pytest

    from portal.uploads.logo import LogoRefused, checked_image

    with pytest.raises(LogoRefused) as refused:
        checked_image(b"\x89PNG\r\n\x1a\n" + b"\0" * (3 * 1024 * 1024))
    assert refused.value.reason == "too_large" and refused.value.params == {"megabytes": 2}


def test_an_external_logo_address_is_refused_instead_of_dropped_silently(client, merchant_a):
    _admin(client, merchant_a)
    data = _form(client)
    data.update(logo_url="https://cdn.example.com/logo.png")
    response = client.post("/office/settings", data=data)
    assert response.status_code == 422
    assert "Logos von anderen Websites werden nicht angezeigt" in response.get_data(as_text=True)
    db.session.expire_all()
    assert merchant_a.logo_url is None


def test_support_staff_get_the_no_permission_page(signed_in):
    response = signed_in.get("/office/settings/logo")
    assert response.status_code == 403
    assert "keine Berechtigung" in response.get_data(as_text=True)


def test_a_logo_name_that_is_not_ours_answers_404(client, merchant_a):
    assert client.get(f"/portal/brand/{merchant_a.id}/../../secret.png").status_code == 404
    assert client.get(f"/portal/brand/{merchant_a.id}/{'0' * 20}.png").status_code == 404
