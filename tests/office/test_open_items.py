"""Open items: filters that combine, search (email, phone, RF reference normalised), sorting, keyset
pages with and without htmx, totals of the selection and an export that imports back unchanged."""
from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

from sqlalchemy import select

from portal.clock import today_for
from portal.dunning import escalation
from portal.extensions import db
from portal.intake.csv_import import import_csv
from portal.models import Debtor, Invoice

HEADER = "number;issue_date;due_date;amount;currency;debtor_ref;kind;name;company;email;phone;language;street;postal_code;city;country"


def _csv(rows: list[str]) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def _row(n: int, due: date, amount: str = "10.00", *, ref: str | None = None, name: str | None = None,
         email: str | None = None, phone: str = "", currency: str = "EUR") -> str:
    ref = ref or f"K-{n:04d}"
    return (f"RE-{n:05d};{(due - timedelta(days=14)).isoformat()};{due.isoformat()};{amount};{currency};{ref};person;"
            f"{name or f'Kunde {n:04d}'};;{email or f'kunde{n}@example.de'};{phone};de;Hauptstraße {n};70173;Stuttgart;DE")


def _import(merchant, rows: list[str]):
    result = import_csv(_csv(rows), merchant, today=today_for(merchant.timezone), actor="import:test")
    db.session.commit()
    return result


def _numbers(html: str) -> list[str]:
    return re.findall(r'data-label="[^"]*"><a href="/office/invoices/\d+">([^<]+)</a>', html)


def _walk_pages(client, query: str) -> list[str]:
    """The invoice numbers of every page of the open-items list for `query`, following its "next" links."""
    seen, url = [], f"/office/invoices?{query}"
    while url:
        html = client.get(url).get_data(as_text=True)
        seen += _numbers(html)
        nxt = re.search(r'rel="next" href="([^"]+)"', html)
        url = nxt.group(1).replace("&amp;", "&") if nxt else None
    return seen


def test_filters_combine_and_search_finds_email_phone_and_rf_reference(signed_in, merchant_a):
    today = today_for(merchant_a.timezone)
    _import(merchant_a, [
        _row(1, today - timedelta(days=45), email="Erika.Muster@Example.de", phone="+49 170 5550001"),
        _row(2, today - timedelta(days=10)),
        _row(3, today - timedelta(days=100)),
        _row(4, today + timedelta(days=5)),
    ])
    inv1 = db.session.execute(select(Invoice).where(Invoice.number == "RE-00001")).scalar_one()
    inv3 = db.session.execute(select(Invoice).where(Invoice.number == "RE-00003")).scalar_one()
    escalation.pause(inv3, "dispute", today=today, actor="test")
    db.session.commit()

    def shown(query: str) -> list[str]:
        response = signed_in.get(f"/office/invoices?{query}")
        assert response.status_code == 200
        return _numbers(response.get_data(as_text=True))

    assert shown("") == ["RE-00003", "RE-00001", "RE-00002", "RE-00004"]  # open, by due date
    assert shown("age=31-60") == ["RE-00001"]
    assert shown("age=90%2B") == ["RE-00003"]
    assert shown("age=not_due") == ["RE-00004"]
    assert shown("paused=dispute") == ["RE-00003"]
    assert shown("paused=no&age=0-30") == ["RE-00002"]
    assert shown("paused=yes&age=0-30") == []
    assert shown("q=erika.muster%40example.de") == ["RE-00001"]          # email, case ignored
    assert shown("q=0170+555+0001") == ["RE-00001"]                     # phone as people type it
    pretty = " ".join(inv1.rf_reference[i:i + 4] for i in range(0, len(inv1.rf_reference), 4)).lower()
    assert shown("q=" + pretty.replace(" ", "+")) == ["RE-00001"]       # RF reference with spaces, lower case
    assert shown("q=K-0002") == ["RE-00002"]
    assert shown("status=all&currency=EUR&q=Kunde+000") == ["RE-00003", "RE-00001", "RE-00002", "RE-00004"]
    assert shown("status=paid") == []
    assert shown("status=nonsense&age=bogus&group=x&after=%%%") == ["RE-00003", "RE-00001", "RE-00002", "RE-00004"]


def test_keyset_pages_walk_the_whole_selection_once_in_order_with_and_without_htmx(signed_in, merchant_a):
    today = today_for(merchant_a.timezone)
    _import(merchant_a, [_row(n, today - timedelta(days=n % 7), amount=f"{(n * 37) % 90 + 10}.00") for n in range(1, 121)])
    expected = [inv.number for inv in db.session.execute(
        select(Invoice).order_by(Invoice.open_minor.desc(), Invoice.id.desc())).scalars()]
    seen, url, pages = [], "/office/invoices?sort=open&dir=desc", 0
    while url:
        htmx = pages % 2 == 1
        response = signed_in.get(url, headers={"HX-Request": "true"} if htmx else {})
        assert "HX-Request" in response.headers["Vary"]
        html = response.get_data(as_text=True)
        assert ("<html" in html) != htmx  # htmx gets the rows, totals and pager alone
        seen += _numbers(html)
        nxt = re.search(r'rel="next" href="([^"]+)"', html)
        url = nxt.group(1).replace("&amp;", "&") if nxt else None
        pages += 1
    assert pages == 3
    assert seen == expected


def test_pages_sorted_by_customer_name_keep_namesakes_apart_and_show_every_invoice_once(signed_in, merchant_a):
    today = today_for(merchant_a.timezone)
    # 40 customers under three names, three invoices each: the names tie across customers and within a customer
    _import(merchant_a, [_row(n, today - timedelta(days=n % 5), ref=f"K-{n % 40:02d}", name=["Weber", "Abel", "Meyer"][n % 40 % 3])
                         for n in range(1, 121)])
    for desc in (False, True):
        rows = db.session.execute(select(Invoice.number, Debtor.name, Debtor.id, Invoice.id)
                                  .join(Debtor, Debtor.id == Invoice.debtor_id)).all()
        expected = [r.number for r in sorted(rows, key=lambda r: (r[1], r[2], r[3]), reverse=desc)]
        seen, url = [], "/office/invoices?sort=debtor" + ("&dir=desc" if desc else "")
        while url:
            html = signed_in.get(url).get_data(as_text=True)
            seen += _numbers(html)
            nxt = re.search(r'rel="next" href="([^"]+)"', html)
            url = nxt.group(1).replace("&amp;", "&") if nxt else None
        assert seen == expected


def test_totals_add_up_the_whole_selection_per_currency(signed_in, merchant_a):
    today = today_for(merchant_a.timezone)
    _import(merchant_a, [_row(n, today - timedelta(days=3), amount="1.000,50") for n in range(1, 61)]
            + [_row(61, today, amount="20.00", currency="CHF")])
    # two pages: the list answers without adding up every row; its placeholder loads the totals (htmx) or links to them
    html = signed_in.get("/office/invoices").get_data(as_text=True)
    assert "Rechnungen:" not in html and "€, offen" not in html  # no figure before it is added up
    loader = re.search(r'<a href="([^"]*totals=1[^"]*)"\s+hx-get="([^"]+)" hx-trigger="load"', html)
    assert loader, html
    with_link = signed_in.get(loader.group(1).replace("&amp;", "&")).get_data(as_text=True)
    htmx = signed_in.get(loader.group(2).replace("&amp;", "&"), headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in htmx
    for html in (htmx, with_link):
        assert "60 Rechnungen" in html and "60.030,00\xa0€" in html  # all 60, not the 50 on the page
        assert "1 Rechnung" in html and "20,00\xa0CHF" in html
        assert "60.050" not in html
    # the placeholder's totals are those of its filters
    chf = signed_in.get("/office/invoices/totals?currency=CHF", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "1 Rechnung" in chf and "20,00\xa0CHF" in chf and "€" not in chf
    opened = signed_in.get("/office/invoices/totals?currency=CHF")  # as a page: the list with its totals
    assert opened.status_code == 303 and opened.headers["Location"].endswith("/office/invoices?totals=1&currency=CHF")
    # a selection that fits on one page is added up as it is shown
    one_page = signed_in.get("/office/invoices?currency=CHF").get_data(as_text=True)
    assert "1 Rechnung" in one_page and "20,00\xa0CHF" in one_page and 'hx-trigger="load"' not in one_page
    assert "Keine passenden Rechnungen." in signed_in.get("/office/invoices?currency=USD").get_data(as_text=True)


def test_the_export_is_exactly_the_selection_and_imports_back_with_nothing_changed(signed_in, merchant_a):
    today = today_for(merchant_a.timezone)
    rows = [_row(n, today - timedelta(days=40 if n % 2 else 5)) for n in range(1, 131)]
    rows.append(_row(999, today - timedelta(days=40), name="=HYPERLINK(\"http://evil\")", ref="K-EVIL", phone="+49 170 5550999"))
    _import(merchant_a, rows)
    response = signed_in.get("/office/invoices/export.csv?age=31-60&sort=number")
    assert response.status_code == 200
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())
    text = raw.decode("utf-8-sig")
    table = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert [r["number"] for r in table] == sorted(f"RE-{n:05d}" for n in list(range(1, 131, 2)) + [999])
    assert text.count("number;issue_date") == 1
    evil = next(r for r in table if r["number"] == "RE-00999")
    assert evil["name"].startswith("'=")  # a spreadsheet shows the text, it does not run it
    assert evil["phone"] == "'+491705550999"
    before = db.session.execute(select(Invoice.number, Invoice.intake_fingerprint, Invoice.debtor_id)).all()
    debtors_before = db.session.execute(select(Debtor.external_ref, Debtor.name, Debtor.phone, Debtor.updated_at)).all()
    result = import_csv(raw, merchant_a, today=today, actor="import:roundtrip")
    db.session.commit()
    assert (result.created, result.unchanged) == (0, 66)
    assert db.session.execute(select(Invoice.number, Invoice.intake_fingerprint, Invoice.debtor_id)).all() == before
    assert (result.debtors_created, result.debtors_updated) == (0, 0)
    assert db.session.execute(select(Debtor.external_ref, Debtor.name, Debtor.phone, Debtor.updated_at)).all() == debtors_before


def test_a_broad_search_finds_the_same_pages_as_a_narrow_one_in_every_order(signed_in, merchant_a, monkeypatch):
    """On PostgreSQL a search matching more than NARROW customers is checked row by row along the list's order instead
    of by id lists: the pages must be the same (on SQLite both are the same query)."""
    from portal.office import open_items

    today = today_for(merchant_a.timezone)
    names = ["Anna Weber", "Jonas Weberling", "Mia Abel", "Paul Webster"]
    _import(merchant_a, [_row(n, today - timedelta(days=n % 9), amount=f"{(n * 37) % 90 + 10}.00", ref=f"K-{n % 45:02d}",
                              name=names[n % 45 % 4]) for n in range(1, 141)]
            + [_row(900, today, ref="K-WEB", name="Zoe Zander")])  # found by its number only below

    def walk(query: str) -> list[str]:
        return _walk_pages(signed_in, query)

    queries = [f"status=all&q={q}&sort={sort}{d}" for q in ("Weber", "web", "RE-0090")
               for sort in ("due", "debtor", "amount", "step", "number") for d in ("", "&dir=desc")]
    narrow = {q: walk(q) for q in queries}
    monkeypatch.setattr(open_items, "NARROW", 0)
    assert {q: walk(q) for q in queries} == narrow
    monkeypatch.setattr(open_items, "WALK", 7)  # the walk gives up early: the matches are fetched instead
    assert {q: walk(q) for q in queries} == narrow
    webers = sum(1 for n in range(1, 141) if n % 45 % 4 in (0, 1, 3)) + 1  # and customer number K-WEB
    assert len(narrow["status=all&q=Weber&sort=due"]) == sum(1 for n in range(1, 141) if n % 45 % 4 in (0, 1))
    assert len(narrow["status=all&q=web&sort=debtor"]) == webers
    assert narrow["status=all&q=RE-0090&sort=due"] == ["RE-00900"]


def test_after_a_bank_statement_each_status_lists_exactly_its_invoices_in_every_order(signed_in, merchant_a):
    """Open invoices have indexes of their own (partial, `WHERE status = 'open'`); the paid ones paid by a bank
    statement leave them and are listed through the indexes of all statuses: every status, every order, every page
    shows exactly its invoices once, as the rows themselves say."""
    from portal.payments.reconcile import import_statements
    from tests.payments.camt_builder import entry, statement

    today = today_for(merchant_a.timezone)
    _import(merchant_a, [_row(n, today - timedelta(days=n % 11), amount=f"{(n * 37) % 90 + 10}.00", ref=f"K-{n % 30:02d}")
                         for n in range(1, 131)])
    invoices = db.session.execute(select(Invoice).order_by(Invoice.id)).scalars().all()
    paid = [inv for inv in invoices if inv.id % 3 == 0]
    part = invoices[1]  # paid in part: stays open with less open
    entries = [entry(f"{inv.amount_minor // 100}.{inv.amount_minor % 100:02d}", ref=f"B{inv.id}", rf=inv.rf_reference)
               for inv in paid] + [entry("5.00", ref="PART", rf=part.rf_reference)]
    result = import_statements(merchant_a, statement(*entries), "stmt.xml", actor="test", today=today)
    db.session.commit()
    assert result.total("booked") == len(paid) + 1

    def walk(query: str) -> list[str]:
        return _walk_pages(signed_in, query)

    db.session.expire_all()
    rows = db.session.execute(select(Invoice, Debtor).join(Debtor, Debtor.id == Invoice.debtor_id)).all()
    keys = {"due": lambda i, d: (i.due_date,), "number": lambda i, d: (i.number,), "amount": lambda i, d: (i.amount_minor,),
            "open": lambda i, d: (i.open_minor,), "debtor": lambda i, d: (d.name, d.id),
            "step": lambda i, d: (i.dunning_step or "",)}
    assert {i.status for i, _ in rows} == {"open", "paid"}
    for status in ("open", "paid", "all"):
        for sort, key in keys.items():
            for desc in (False, True):
                chosen = [(i, d) for i, d in rows if status == "all" or i.status == status]
                expected = [i.number for i, d in sorted(chosen, key=lambda r: (*key(*r), r[0].id), reverse=desc)]
                shown = walk(f"status={status}&sort={sort}" + ("&dir=desc" if desc else ""))
                assert shown == expected, (status, sort, desc)
    assert len(walk("status=paid")) == len(paid)
