"""Letters: A4 PDFs for a DIN 5008 window envelope, stored per day and collected into print batches.

WeasyPrint renders the letter templates (HTML + CSS with @page and millimetre
positions: the address field must sit exactly behind the envelope window). A sent
letter is a stored PDF plus provider id `print:<day>`; the day's print batch is those
PDFs concatenated in message order (pypdf), so a batch never re-renders and always
holds exactly what the message record says was produced.
"""
from __future__ import annotations

import io
from datetime import date
from pathlib import Path

from flask import current_app
from pypdf import PdfReader, PdfWriter
from sqlalchemy import select

from portal import ROOT
from portal.extensions import db
from portal.models import Message, MessageStatus


def pdf_from_html(html: str) -> bytes:
    from weasyprint import HTML

    return HTML(string=html, base_url=str(ROOT) + "/").write_pdf()


def letter_path(merchant_id: int, day: date, message_id: int) -> Path:
    return Path(current_app.config["STORAGE_DIR"]) / "letters" / str(merchant_id) / day.isoformat() / f"{message_id}.pdf"


def store(message: Message, day: date, pdf: bytes) -> str:
    path = letter_path(message.merchant_id, day, message.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(pdf)
    tmp.replace(path)  # atomic: a batch never picks up half a file
    return f"print:{day.isoformat()}"


def stored_pdf(message: Message) -> Path | None:
    if message.channel != "letter" or not (message.provider_id or "").startswith("print:"):
        return None
    day = date.fromisoformat(message.provider_id.removeprefix("print:"))
    path = letter_path(message.merchant_id, day, message.id)
    return path if path.exists() else None


def batch_messages(merchant_id: int, day: date) -> list[Message]:
    return db.session.execute(
        select(Message).where(
            Message.merchant_id == merchant_id, Message.channel == "letter",
            Message.status == MessageStatus.SENT.value, Message.provider_id == f"print:{day.isoformat()}",
        ).order_by(Message.id)
    ).scalars().all()


def print_batch(merchant_id: int, day: date) -> tuple[bytes, int]:
    """All letters of the day as one PDF for simplex printing: each letter's pages in order, a one-page
    letter is one page (no blank backs to insert into the envelope); and their count."""
    writer = PdfWriter()
    count = 0
    for message in batch_messages(merchant_id, day):
        path = stored_pdf(message)
        if path is None:
            raise FileNotFoundError(f"the PDF of letter {message.id} is missing from storage")
        reader = PdfReader(path)
        for page in reader.pages:
            writer.add_page(page)
        count += 1
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), count
