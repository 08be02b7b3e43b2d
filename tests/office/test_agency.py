"""The collection agency's settings: admins only, validated, audited; the handover page shows payments after handover."""
from sqlalchemy import select

from portal.extensions import db
from portal.models import CollectionAgency, Event
from tests.factories import make_user
from tests.office.conftest import csrf_from, sign_in

FORM = {"name": "Inkasso Süd GmbH", "street": "Königstraße 1", "postal_code": "70173", "city": "Stuttgart", "country": "de",
        "contact_person": "Frau Weber", "email": "forderungen@inkasso-sued.example", "phone": "+49 711 123456",
        "registration": "Rechtsdienstleistungsregister, AG Stuttgart, Az. 371E-1234",
        "privacy_url": "https://inkasso-sued.example/datenschutz", "legal_basis": "art6_1_f", "payee": "agency"}


def admin_client(client, merchant):
    make_user(merchant, "admin@alpha.example", role="admin", password="correct horse battery")
    assert sign_in(client, "admin@alpha.example").status_code == 303
    return client


def test_only_admins_set_up_the_collection_agency(signed_in, merchant_a):
    assert signed_in.get("/office/settings/collection-agency").status_code == 403


def test_the_agency_settings_are_saved_validated_and_audited(client, merchant_a):
    db.session.delete(db.session.get(CollectionAgency, merchant_a.id))  # a shop that has not set one up yet
    db.session.commit()
    admin = admin_client(client, merchant_a)
    page = admin.get("/office/settings/collection-agency")
    assert page.status_code == 200 and "Wohin Kundinnen und Kunden nach der Übergabe zahlen" in page.get_data(as_text=True)
    token = csrf_from(page.get_data(as_text=True))
    bad = admin.post("/office/settings/collection-agency", data={**FORM, "email": "kein-at", "payee": "nobody", "csrf_token": token})
    assert bad.status_code == 422 and db.session.get(CollectionAgency, merchant_a.id) is None
    assert "name@example.de" in bad.get_data(as_text=True)
    saved = admin.post("/office/settings/collection-agency", data={**FORM, "csrf_token": token})
    assert saved.status_code == 303
    agency = db.session.get(CollectionAgency, merchant_a.id)
    assert (agency.name, agency.country, agency.payee, agency.legal_basis) == ("Inkasso Süd GmbH", "DE", "agency", "art6_1_f")
    admin.post("/office/settings/collection-agency", data={**FORM, "payee": "shop", "csrf_token": token})
    db.session.expire_all()
    assert db.session.get(CollectionAgency, merchant_a.id).payee == "shop"
    events = db.session.execute(select(Event).where(Event.kind == "staff.settings.agency").order_by(Event.id)).scalars().all()
    assert events[0].data["changed"][:2] == ["name", "street"] and events[1].data["changed"] == ["payee"]
    handover_page = admin.get("/office/handover").get_data(as_text=True)
    assert "Inkasso Süd GmbH, Königstraße 1, 70173 Stuttgart" in handover_page
    assert "Nach der Übergabe zahlen Kundinnen und Kunden weiter an Sie." in handover_page
