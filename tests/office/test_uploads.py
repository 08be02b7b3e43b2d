"""Back office uploads: a CSV is queued by the request and imported by the worker, with every bad line
listed in the reader's language; files are checked by content; other merchants' uploads are 404."""
from __future__ import annotations

import io
import re

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Event, Invoice, UploadJob
from portal.uploads import jobs
from tests.factories import make_user
from tests.office.conftest import PASSWORD, csrf_from, sign_in

HEADER = "number;issue_date;due_date;amount;currency;debtor_ref;kind;name;company;email;phone;language;street;postal_code;city;country\n"


def good_csv(n: int = 3) -> bytes:
    rows = [f"RE-{i:05d};01.12.2026;15.12.2026;{i},50;EUR;K-{i % 7};person;Erika Muster {i};;erika{i}@example.de;;de;"
            f"Hauptstraße {i};70173;Stuttgart;DE\n" for i in range(1, n + 1)]
    return (HEADER + "".join(rows)).encode()


def upload(client, data: bytes, name: str = "rechnungen.csv", kind: str = "invoices", field: str = "invoice_file"):
    token = csrf_from(client.get("/office/uploads").get_data(as_text=True))
    return client.post("/office/uploads", data={"csrf_token": token, "kind": kind, field: (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def invoices() -> int:
    return db.session.scalar(select(func.count()).select_from(Invoice))


def test_the_request_only_queues_the_file_and_the_worker_imports_it(signed_in, merchant_a):
    response = upload(signed_in, good_csv(3))
    assert response.status_code == 303
    job_url = response.headers["Location"]
    assert invoices() == 0  # nothing imported inside the request
    waiting = signed_in.get(job_url).get_data(as_text=True)
    assert "Der Import beginnt gleich" in waiting and "Neu laden, um den Fortschritt zu sehen" in waiting
    assert 'hx-trigger="every 1s"' in waiting and 'http-equiv="refresh"' in waiting  # htmx polling, and a refresh without JS

    assert jobs.drain("test-worker") == 1
    assert invoices() == 3
    done = signed_in.get(job_url).get_data(as_text=True)
    assert "Importiert: 3 neue Rechnung(en), 0 bereits in Settle (von 3 Zeilen)" in done
    assert "hx-trigger" not in done and 'http-equiv="refresh"' not in done  # finished: polling stops
    queued = db.session.execute(select(Event).where(Event.kind == "staff.upload.queued")).scalar_one()
    assert queued.data["file"] == "rechnungen.csv" and queued.actor.startswith("user:")
    imported = db.session.execute(select(Event).where(Event.kind == "import.completed")).scalar_one()
    assert imported.actor == queued.actor  # the staff member who uploaded it, not an anonymous process


def test_htmx_gets_the_status_partial_only(signed_in, merchant_a):
    job_url = upload(signed_in, good_csv(1)).headers["Location"]
    partial = signed_in.get(job_url, headers={"HX-Request": "true"})
    assert "HX-Request" in partial.headers["Vary"]
    html = partial.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="upload-status"') and "<html" not in html


def test_every_bad_line_is_listed_in_german_and_nothing_is_imported(signed_in, merchant_a):
    bad = (HEADER
           + "RE-1;01.12.2026;15.12.2026;19,90;EUR;K-1;person;Erika;;erika@example.de;;de;;;;DE\n"
           + "RE-2;01.12.2026;31.02.2026;1,234;EUR;K-2;business;Hans;;keine-mail;;de;;;;Deutschland\n"
           + "RE-3;gestern;15.12.2026;abc;EURO;;person;;;;;;;;;\n"
           + "RE-1;01.12.2026;15.12.2026;29,90;EUR;K-1;person;Erika;;erika@example.de;;de;;;;DE\n").encode()
    job_url = upload(signed_in, bad).headers["Location"]
    jobs.drain("test-worker")
    assert invoices() == 0
    page = signed_in.get(job_url).get_data(as_text=True)
    assert "Es wurde nichts importiert." in page
    rows = re.findall(r'<tr><td data-label="Zeile">(\d+)</td>', page)
    assert rows == ["3", "4", "5"]
    for expected in (
        "Spalte due_date (Fälligkeitsdatum): ist ein Datum, das es im Kalender nicht gibt",
        "Spalte amount (Betrag): ist nicht eindeutig lesbar",
        "Spalte company (Firma): ist bei Geschäftskunden erforderlich",
        "Spalte email (E-Mail-Adresse): ist keine gültige E-Mail-Adresse",
        "Spalte country (Land): darf höchstens 2 Zeichen lang sein",
        "Spalte issue_date (Rechnungsdatum): ist kein Datum; bitte als 15.12.2025 oder 2025-12-15 schreiben",
        "Spalte debtor_ref (Kundennummer): fehlt",
        "Spalte currency (Währung): muss ein Währungscode wie EUR sein",
        "RE-1 steht auch in Zeile 2, dort mit anderem Inhalt",
    ):
        assert expected in page, expected
    problems = re.findall(r'<span class="problem">([^<]*)</span>', page)
    english = [p for p in problems if re.search(r"\b(is|must|required|invalid|appears)\b", p)]
    assert not english, english


def test_the_same_problems_read_in_english_for_an_english_speaking_user(client, merchant_a):
    user = make_user(merchant_a, "en@alpha.example", password=PASSWORD)
    user.language = "en"
    db.session.commit()
    sign_in(client, user.email)
    job_url = upload(client, (HEADER + "RE-9;01.12.2026;15.12.2026;;EUR;K-1;person;Erika;;;;;;;;\n").encode()).headers["Location"]
    jobs.drain("test-worker")
    page = client.get(job_url).get_data(as_text=True)
    assert "Nothing was imported." in page and "Column amount (amount): is missing" in page


def test_a_file_that_is_not_a_csv_is_refused_by_its_content_not_its_name(signed_in, merchant_a):
    response = upload(signed_in, b"%PDF-1.7\n...binary...", name="rechnungen.csv")
    assert response.status_code == 422
    assert "Diese Datei ist nicht eine CSV-Datei mit einer Rechnung je Zeile" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(UploadJob)) == 0
    empty = upload(signed_in, b"", name="leer.csv")
    assert empty.status_code == 422
    assert "Die Datei ist leer." in empty.get_data(as_text=True)


def test_an_upload_without_the_csrf_token_is_refused(signed_in, merchant_a):
    response = signed_in.post("/office/uploads", data={"kind": "invoices", "invoice_file": (io.BytesIO(good_csv(1)), "a.csv")},
                              content_type="multipart/form-data")
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(UploadJob)) == 0


def test_the_worker_command_imports_queued_uploads(signed_in, merchant_a, app):
    upload(signed_in, good_csv(2))
    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "Uploads: 1 imported." in result.output
    assert invoices() == 2


def test_a_stale_claim_is_taken_over_and_a_finished_job_is_never_run_again(signed_in, merchant_a):
    from datetime import timedelta

    from portal.models.types import utcnow

    upload(signed_in, good_csv(2))
    job_id = jobs.claim("dead-worker")
    assert job_id is not None and jobs.claim("other") is None  # leased
    assert jobs.claim("other", now=utcnow() + jobs.LEASE + timedelta(minutes=1)) == job_id
    jobs.process(job_id)
    assert invoices() == 2
    assert jobs.drain("again") == 0


def test_the_uploads_page_lists_recent_uploads_with_translated_status(signed_in, merchant_a):
    upload(signed_in, good_csv(1), name="dezember.csv")
    page = signed_in.get("/office/uploads").get_data(as_text=True)
    assert "dezember.csv" in page and "Wartet" in page and "Rechnungen (CSV)" in page
