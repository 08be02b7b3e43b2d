"""Letters: stored per day, collected into a print batch, and handed to the agency with the handover export."""
import io
import json
import subprocess
import zipfile
from datetime import datetime, timedelta, timezone

from portal.clock import today_for
from portal.dunning.run import run
from portal.messaging import worker
from tests.dunning.helpers import DUE, make_debtor_invoice, messages
from tests.factories import make_merchant


def test_letters_form_a_printable_daily_batch_with_address_payment_box_and_qr_code(app, runner, tmp_path):
    merchant = make_merchant(business_flat_fee=True)
    invoice = make_debtor_invoice(merchant, "older", "RE-1")
    now = datetime.now(timezone.utc) + timedelta(minutes=1)
    sent = 0
    for n in (-3, 7, 21, 35, 49, 63):
        run(today=DUE + timedelta(days=n))
        sent += worker.drain(now=now).sent
    assert sent == 7  # six letters and the staff notice about the handover
    assert {m.channel for m in messages()} == {"letter"}
    day = today_for(merchant.timezone, now).isoformat()
    out = tmp_path / "batch.pdf"
    result = runner.invoke(args=["letters", "batch", "--merchant", merchant.slug, "--date", day, "-o", str(out)])
    assert result.exit_code == 0 and "6 letter(s)" in result.output
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True).stdout
    assert text.count("Hauptstraße 5") == 6 and "70173 Stuttgart" in text  # the address field
    assert text.count("DE89 3704 0044 0532 0130 00") == 5  # payment box on every letter but the handover notice
    assert "Letzte Mahnung" in text and "Verzugszinsen" in text
    png = tmp_path / "page"
    subprocess.run(["pdftoppm", "-r", "150", "-f", "1", "-l", "1", "-png", str(out), str(png)], check=True)
    decoded = subprocess.run(["zbarimg", "-q", "--raw", "-Sbinary", next(tmp_path.glob("page*.png"))],
                             capture_output=True, check=True).stdout.decode()
    assert decoded.startswith("BCD\n") and "DE89370400440532013000" in decoded and "EUR1000" in decoded

    export = tmp_path / "handover.zip"
    result = runner.invoke(args=["dunning", "handover-export", "--merchant", merchant.slug, "-o", str(export)])
    assert result.exit_code == 0 and "1 claim(s), 0 change(s)" in result.output
    with zipfile.ZipFile(export) as archive:
        names = archive.namelist()
        claims = json.loads(archive.read("claims.json"))["claims"]
        csv_text = archive.read("claims.csv").decode("utf-8-sig")
    assert len([n for n in names if n.startswith("messages/RE-1/") and n.endswith("-letter.pdf")]) == 6
    [claim] = claims
    assert claim["claim"]["invoice_number"] == "RE-1" and claim["claim"]["principal"] == "1000.00"
    assert claim["debtor"]["date_of_birth"] == "1940-02-02" and claim["debtor"]["street"] == "Hauptstraße 5"
    assert [r["step"] for r in claim["dunning_history"]] == ["pre_due", "reminder", "notice_1", "notice_2", "final", "handover"]
    assert all(r["copy"] in names for r in claim["dunning_history"])
    # Pre-due letter Thu 29 May 2025 (with the § 286 (3) notice), presumed received Mon 2 June: 30 days → Wed 2 July;
    # the 1st notice's deadline is the same day. Interest from 3 July, all at 1.27 + 5 = 6.27 %.
    assert claim["interest"][0]["periods"][0]["rate"] == "6.27"
    assert claim["disputes"] == [] and claim["default"]["on"] == "2025-07-02"
    assert "RE-1" in csv_text and "1000.00" in csv_text
    assert invoice.id
