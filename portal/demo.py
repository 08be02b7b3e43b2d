"""Demo data: a German shop with debtors of every kind and invoices in every state of lateness.

Dates are relative to today, so the demo always shows not-yet-due, just overdue and
long overdue invoices. Loading is idempotent: a second call changes nothing.
"""
from __future__ import annotations

import random
from datetime import date, timedelta

from sqlalchemy import select

from portal.clock import today_for
from portal.domain.intake import validate_invoice
from portal.extensions import db
from portal.intake.service import submit_invoice
from portal.models import CollectionAgency, Debtor, Merchant, User

SLUG = "sonnenberg"
ADMIN_EMAIL = "admin@sonnenberg.example"
SUPPORT_EMAIL = "support@sonnenberg.example"
DEMO_PASSWORD = "demo-passwort-2026"

# (ref, kind, name, company, email, phone, language, street, postal code, city, birth year)
DEBTORS = [
    ("K-1001", "person", "Max Mustermann", None, "max.mustermann@example.de", "+491701234501", "de", "Hauptstraße 5", "70173", "Stuttgart", 1985),
    ("K-1002", "person", "Erika Musterfrau", None, "erika@example.de", None, "de", "Lindenweg 12", "80331", "München", 1948),
    ("K-1003", "person", "Jürgen Weiß", None, None, None, "de", "Am Markt 3", "01067", "Dresden", 1941),
    ("K-1004", "person", "Aylin Özdemir", None, "aylin.oezdemir@example.de", "+491511234504", "de", "Kastanienallee 44", "10435", "Berlin", 1996),
    ("K-1005", "person", "Sophie Bauer", None, None, "+491621234505", "de", "Gartenstraße 9", "50667", "Köln", 1999),
    ("K-1006", "person", "Oliver Smith", None, "oliver.smith@example.co.uk", "+447700900106", "en", "Friedrichstraße 100", "10117", "Berlin", 1979),
    ("K-1007", "person", "Hannah Schröder", None, "hannah.schroeder@example.de", None, "de", "Rosenstraße 1", "20095", "Hamburg", 1990),
    ("K-1008", "person", "Lukas Hoffmann", None, "lukas.h@example.de", "+491761234508", "de", "Schillerplatz 7", "04109", "Leipzig", 2001),
    ("K-1009", "person", "Grace O'Neill", None, "grace@example.ie", None, "en", "Bergstraße 22", "69115", "Heidelberg", 1988),
    ("K-1010", "person", "Helga Krüger", None, None, None, "de", "Dorfstraße 8", "24103", "Kiel", 1944),
    ("K-1011", "person", "Mehmet Yılmaz", None, "mehmet.yilmaz@example.de", "+491571234511", "de", "Bahnhofstraße 15", "90402", "Nürnberg", 1983),
    ("K-1012", "person", "Emma Wagner", None, "emma.wagner@example.de", None, "de", "Mozartweg 4", "60311", "Frankfurt am Main", 1994),
    ("K-1013", "person", "Daniel Novak", None, None, "+491601234513", "en", "Königsallee 30", "40212", "Düsseldorf", 1992),
    ("K-1014", "person", "Ingrid Fischer", None, "ingrid.fischer@example.de", None, "de", "Talstraße 2", "79098", "Freiburg", 1952),
    ("G-2001", "business", "Thomas Becker", "Becker Gartenbau GmbH", "buchhaltung@becker-gartenbau.example", "+4971112345001", "de", "Industriestraße 20", "70565", "Stuttgart", None),
    ("G-2002", "business", "Sabine Klein", "Klein & Söhne KG", "rechnungen@klein-soehne.example", None, "de", "Hafenstraße 5", "28195", "Bremen", None),
    ("G-2003", "business", "James Carter", "Carter Landscaping Ltd", "accounts@carter-landscaping.example", None, "en", "Europaallee 1", "66113", "Saarbrücken", None),
    ("G-2004", "business", "Petra Lang", "Hotel Seeblick GmbH & Co. KG", "einkauf@hotel-seeblick.example", "+4988212345004", "de", "Seepromenade 11", "82319", "Starnberg", None),
    ("G-2005", "business", "Frank Richter", "Richter Immobilienservice e.K.", None, None, "de", "Marktplatz 2", "99084", "Erfurt", None),
    ("G-2006", "business", "Nina Vogel", "Vogel Floristik UG (haftungsbeschränkt)", "nina@vogel-floristik.example", "+4930123450006", "de", "Blumenstraße 6", "10243", "Berlin", None),
]

PRODUCTS = [
    ("Hochbeet Lärche 200 × 80 cm", "189.00"),
    ("Gartenbank Eiche, 3-Sitzer", "349.00"),
    ("Rasenmäher-Roboter RM 500", "799.00"),
    ("Terrassendielen WPC, 20 m²", "1234.56"),
    ("Pflanzkübel Terrakotta, 3er-Set", "59.90"),
    ("Gewächshaus Alu 6 m²", "649.00"),
    ("Bewässerungsset Tropf, 50 Pflanzen", "74.95"),
    ("Sonnensegel 4 × 4 m", "119.00"),
    ("Kompostbehälter 900 l", "89.00"),
    ("Gartenschlauch 25 m mit Wagen", "49.90"),
]


def _merchant() -> Merchant:
    return Merchant(
        slug=SLUG,
        name="Gartenhaus Sonnenberg",
        legal_name="Gartenhaus Sonnenberg GmbH",
        street="Obere Weinsteige 14",
        postal_code="70597",
        city="Stuttgart",
        country="DE",
        support_email="hilfe@sonnenberg.example",
        support_phone="+49 711 123456-0",
        support_hours="Mo–Fr 9–17 Uhr",
        iban="DE89370400440532013000",
        bic="COBADEFF",
        account_holder="Gartenhaus Sonnenberg GmbH",
        timezone="Europe/Berlin",
        default_language="de",
        logo_url="/static/img/demo-logo.svg",
        primary_color="#2e6b30",
        accent_color="#eef5e9",
        imprint_url="https://sonnenberg.example/impressum",
        privacy_url="https://sonnenberg.example/datenschutz",
        link_ttl_days=60,
        dunning_fee_cap_minor=250,
        business_flat_fee=True,
    )


def _invoice_payloads(today: date) -> list[dict]:
    rng = random.Random(20251201)
    payloads = []
    # Days past due for each of the 40 invoices: not yet due (negative), just overdue, long overdue.
    lateness = [-20, -12, -6, -3, -1, 0, -25, -9, -15, -2] + [2, 5, 8, 11, 14, 6, 9, 3, 12, 16] + [
        23, 30, 37, 44, 51, 58, 65, 72, 86, 100, 26, 33, 41, 47, 55, 61, 68, 79, 90, 120
    ]
    for i, days_late in enumerate(lateness):
        debtor = DEBTORS[i % len(DEBTORS)]
        ref, kind, name, company, email, phone, language, street, postal, city, birth_year = debtor
        due = today - timedelta(days=days_late)
        issued = due - timedelta(days=14)
        picks = rng.sample(PRODUCTS, k=rng.randint(1, 3))
        lines = [{"description": d, "quantity": 1, "amount": a} for d, a in picks]
        total = sum(int(a.replace(".", "")) for _, a in picks)
        payloads.append(
            {
                "number": f"RE-{issued.year}-{1001 + i:05d}",
                "issue_date": issued.isoformat(),
                "due_date": due.isoformat(),
                "amount": f"{total // 100}.{total % 100:02d}",
                "currency": "EUR",
                "order_ref": f"B-{700100 + i}",
                "lines": lines,
                "debtor": {
                    "external_ref": ref,
                    "kind": kind,
                    "name": name,
                    "company": company,
                    "email": email,
                    "phone": phone,
                    "language": language,
                    "date_of_birth": f"{birth_year}-0{1 + i % 9}-1{i % 10}" if birth_year else None,
                    "address": {"street": street, "postal_code": postal, "city": city, "country": "DE"},
                },
            }
        )
    return payloads


def load_demo() -> bool:
    """Create the demo merchant with users, debtors and invoices; False if it exists already."""
    if db.session.execute(select(Merchant.id).where(Merchant.slug == SLUG)).first():
        return False
    merchant = _merchant()
    db.session.add(merchant)
    db.session.flush()
    # The agency the final step hands over to (the handover notice names it; without one, claims wait there).
    db.session.add(CollectionAgency(
        merchant_id=merchant.id, name="Inkasso Süd Forderungsmanagement GmbH", street="Königstraße 1", postal_code="70173",
        city="Stuttgart", contact_person="Frau Weber", email="forderungen@inkasso-sued.example", phone="+49 711 987654-0",
        registration="Rechtsdienstleistungsregister, AG Stuttgart, Az. 371E-1234",
        privacy_url="https://inkasso-sued.example/datenschutz", legal_basis="art6_1_f", payee="agency"))
    for email, role, name in ((ADMIN_EMAIL, "admin", "Anna Admin"), (SUPPORT_EMAIL, "support", "Sven Support")):
        user = User(merchant_id=merchant.id, email=email, role=role, name=name)
        user.set_password(DEMO_PASSWORD)
        db.session.add(user)
    today = today_for(merchant.timezone)
    for payload in _invoice_payloads(today):
        data, errors = validate_invoice(payload, today=today)
        if errors:  # the demo data is ours: a mistake here is a bug, not user input
            raise RuntimeError(f"demo invoice {payload['number']} is invalid: {dict(errors)}")
        submit_invoice(merchant, data, actor="demo")
    # The demo shop collected SMS consent at checkout from customers who gave a mobile number,
    # so the mobile-first group really gets SMS (caught on this machine by `make run`).
    for debtor in db.session.execute(select(Debtor).where(Debtor.merchant_id == merchant.id)).scalars():
        debtor.consent_sms = debtor.phone is not None and debtor.phone.startswith(("+4915", "+4916", "+4917", "+447"))
    return True


def demo_links() -> list[tuple[str, str]]:
    from portal.links import url_for_debtor

    merchant = db.session.execute(select(Merchant).where(Merchant.slug == SLUG)).scalar_one_or_none()
    if merchant is None:
        return []
    out = []
    for ref in ("K-1001", "K-1006", "G-2001"):
        debtor = db.session.execute(
            select(Debtor).where(Debtor.merchant_id == merchant.id, Debtor.external_ref == ref)
        ).scalar_one()
        out.append((f"{debtor.display_name} ({ref})", url_for_debtor(debtor)))
    return out
