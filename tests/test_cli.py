"""The command line as DESIGN.md describes it: merchants, API keys, users, demo, links, CSV import."""
from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from portal import demo, links
from portal.clock import today_for
from portal.extensions import db
from portal.models import ApiKey, Debtor, Invoice, Merchant, User
from tests.factories import make_merchant
from tests.intake.csv_files import GERMAN_ROWS, german_excel


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_merchants_create_stores_a_validated_bank_account(runner):
    result = runner.invoke(
        args=["merchants", "create", "gartenwelt", "--name", "Gartenwelt", "--iban", "de89 3704 0044 0532 0130 00"]
    )
    assert result.exit_code == 0, result.output
    merchant = db.session.execute(select(Merchant).where(Merchant.slug == "gartenwelt")).scalar_one()
    assert (merchant.iban, merchant.bic) == ("DE89370400440532013000", "COBADEFFXXX")
    assert merchant.legal_name == merchant.account_holder == "Gartenwelt"


def test_merchants_create_refuses_a_wrong_iban(runner):
    result = runner.invoke(args=["merchants", "create", "gartenwelt", "--name", "Gartenwelt", "--iban", "DE89370400440532013001"])
    assert result.exit_code == 1
    assert "invalid IBAN" in result.output
    assert db.session.scalar(select(func.count(Merchant.id))) == 0


def test_merchants_create_refuses_a_taken_or_malformed_slug(runner):
    make_merchant("gartenwelt")
    taken = runner.invoke(args=["merchants", "create", "gartenwelt", "--name", "X", "--iban", "DE89370400440532013000"])
    assert taken.exit_code == 1 and "exists already" in taken.output
    bad = runner.invoke(args=["merchants", "create", "Garten Welt", "--name", "X", "--iban", "DE89370400440532013000"])
    assert bad.exit_code == 1 and "slug" in bad.output


def test_api_keys_create_prints_a_key_that_authenticates_as_its_last_line(runner, client):
    merchant = make_merchant("gartenwelt")
    result = runner.invoke(args=["api-keys", "create", "--merchant", "gartenwelt", "--name", "shop"])
    assert result.exit_code == 0, result.output
    key = last_line(result.stdout)
    assert key.startswith("stl_")
    stored = db.session.execute(select(ApiKey)).scalar_one()
    assert stored.merchant_id == merchant.id and key not in (stored.key_hash, stored.prefix)
    assert client.get("/api/v1/invoices/RE-1", headers={"Authorization": f"Bearer {key}"}).status_code == 404
    assert client.get("/api/v1/invoices/RE-1", headers={"Authorization": f"Bearer {key}x"}).status_code == 401


def test_api_keys_create_for_an_unknown_merchant_fails(runner):
    result = runner.invoke(args=["api-keys", "create", "--merchant", "nope"])
    assert result.exit_code == 1 and "no merchant" in result.output


def test_users_create_stores_a_hashed_password(runner):
    make_merchant("gartenwelt")
    args = ["users", "create", "--merchant", "gartenwelt", "--email", "Anna@Example.com", "--role", "admin"]
    result = runner.invoke(args=args + ["--password", "lang-genug-123"])
    assert result.exit_code == 0, result.output
    user = db.session.execute(select(User)).scalar_one()
    assert (user.email, user.role) == ("anna@example.com", "admin")
    assert user.password_hash != "lang-genug-123" and user.check_password("lang-genug-123")
    again = runner.invoke(args=args + ["--password", "lang-genug-123"])
    assert again.exit_code == 1 and "exists already" in again.output


def test_users_create_asks_for_the_password_and_refuses_a_short_one(runner):
    make_merchant("gartenwelt")
    args = ["users", "create", "--merchant", "gartenwelt", "--email", "a@example.com"]
    assert runner.invoke(args=args, input="kurz\nkurz\n").exit_code == 1
    result = runner.invoke(args=args, input="lang-genug-123\nlang-genug-123\n")
    assert result.exit_code == 0, result.output
    assert db.session.execute(select(User)).scalar_one().role == "support"


def test_demo_loads_a_merchant_with_debtors_of_every_kind_and_invoices_of_every_lateness(runner):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    merchant = db.session.execute(select(Merchant)).scalar_one()
    assert merchant.slug == demo.SLUG and merchant.iban and merchant.logo_url and merchant.primary_color
    debtors = db.session.execute(select(Debtor)).scalars().all()
    assert 18 <= len(debtors) <= 22
    assert any(d.email is None for d in debtors)
    assert any(d.phone and not d.email for d in debtors)
    assert {d.kind for d in debtors} == {"person", "business"}
    assert {d.language for d in debtors} == {"de", "en"}
    invoices = db.session.execute(select(Invoice)).scalars().all()
    assert 38 <= len(invoices) <= 42
    today = today_for(merchant.timezone)
    late = [(today - i.due_date).days for i in invoices]
    assert sum(d <= 0 for d in late) >= 5, "not yet due"
    assert sum(1 <= d <= 14 for d in late) >= 5, "just overdue"
    assert sum(d > 30 for d in late) >= 5, "long overdue"
    assert db.session.scalar(select(func.count(User.id))) == 2
    assert "/p/" in result.output  # demo links


def test_demo_is_idempotent(runner):
    runner.invoke(args=["demo"])
    counts = [db.session.scalar(select(func.count(m.id))) for m in (Merchant, Debtor, Invoice, User)]
    again = runner.invoke(args=["demo", "--no-links"])
    assert again.exit_code == 0
    assert "already present" in again.output
    assert [db.session.scalar(select(func.count(m.id))) for m in (Merchant, Debtor, Invoice, User)] == counts


def test_links_issue_prints_a_working_portal_link_as_its_last_line(runner):
    runner.invoke(args=["demo", "--no-links"])
    result = runner.invoke(args=["links", "issue", "K-1003", "--merchant", demo.SLUG])
    assert result.exit_code == 0, result.output
    url = last_line(result.stdout)
    assert url.startswith("http://localhost/p/")
    assert links.resolve(url.rsplit("/p/", 1)[1]).external_ref == "K-1003"
    unknown = runner.invoke(args=["links", "issue", "K-9999", "--merchant", demo.SLUG])
    assert unknown.exit_code == 1 and "no debtor" in unknown.output


def test_invoices_import_reports_a_summary(runner, tmp_path):
    make_merchant("gartenwelt")
    path = tmp_path / "rechnungen.csv"
    path.write_bytes(german_excel(GERMAN_ROWS))
    result = runner.invoke(args=["invoices", "import", str(path), "--merchant", "gartenwelt"])
    assert result.exit_code == 0, result.output
    assert "4 invoice(s) created, 0 already present; 3 debtor(s) created, 0 updated" in result.stdout
    again = runner.invoke(args=["invoices", "import", str(path), "--merchant", "gartenwelt"])
    assert "0 invoice(s) created, 4 already present" in again.stdout
    assert db.session.scalar(select(func.count(Invoice.id))) == 4


def test_invoices_import_of_a_bad_file_exits_1_lists_the_bad_lines_and_imports_nothing(runner, tmp_path):
    make_merchant("gartenwelt")
    path = tmp_path / "rechnungen.csv"
    path.write_bytes(german_excel([GERMAN_ROWS[0], GERMAN_ROWS[1].replace("49,90", "neunundvierzig"), GERMAN_ROWS[2].replace("03.12.2025", "2025-13-03")]))
    result = runner.invoke(args=["invoices", "import", str(path), "--merchant", "gartenwelt"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "nothing imported, 2 bad line(s)" in result.stderr
    assert "  line 3: amount: is not an amount" in result.stderr
    assert "  line 4: issue_date: is not a valid date" in result.stderr
    assert db.session.scalar(select(func.count(Invoice.id))) == 0
    assert db.session.scalar(select(func.count(Debtor.id))) == 0


def test_invoices_import_needs_an_existing_file_and_merchant(runner, tmp_path):
    make_merchant("gartenwelt")
    assert runner.invoke(args=["invoices", "import", str(tmp_path / "nope.csv"), "--merchant", "gartenwelt"]).exit_code == 2
    path = tmp_path / "r.csv"
    path.write_bytes(german_excel(GERMAN_ROWS))
    assert runner.invoke(args=["invoices", "import", str(path), "--merchant", "nope"]).exit_code == 1


def test_dates_in_the_demo_are_relative_to_today():
    payloads = demo._invoice_payloads(date(2030, 6, 1))
    assert max(date.fromisoformat(p["due_date"]) for p in payloads) > date(2030, 6, 1)
