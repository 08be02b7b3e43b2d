"""Imports of uploaded files, run by `flask worker` rather than inside the web request.

Why the worker and not a thread in the web process: gunicorn kills and replaces its web
workers (request timeout, `max_requests`, a deploy), and a thread would die with them,
leaving an import half-done with nobody to finish it. `flask worker` already runs beside the
web server (the outbox needs it), and a job row in the database survives restarts: the
request stores the file under STORAGE_DIR/uploads/<merchant>/ and writes a `queued` row; a
worker claims it (a lease, as for outbox messages: `FOR UPDATE SKIP LOCKED` on PostgreSQL,
one conditional UPDATE on SQLite), commits the claim, and runs the import in one transaction
of its own. A worker that dies mid-import leaves the row `running`; after LEASE another one
takes it again, which is safe because every import is all or nothing and a repeated file
creates nothing twice.

Progress goes to a small JSON file next to the upload, not to the database: on SQLite the
import's transaction holds the only write lock until it commits, so a progress row could not
be written beside it, and the page must not wait for it either. Workers and web servers
share STORAGE_DIR anyway (the upload itself lives there).
"""
from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import and_, or_, select, update

from portal.clock import today_for
from portal.extensions import db
from portal.models import Event, Merchant, UploadJob
from portal.models.types import utcnow
from portal.transactions import writing

log = logging.getLogger(__name__)

LEASE = timedelta(hours=1)
MAX_ATTEMPTS = 3
KINDS = ("invoices", "bank_statement", "einvoice")
PROGRESS_EVERY = 500  # rows between two progress writes


class UploadRefused(ValueError):
    """The upload cannot be queued (empty, too large, wrong kind of file); `reason` names why."""

    def __init__(self, reason: str, **params):
        super().__init__(reason)
        self.reason = reason
        self.params = params


def _root() -> Path:
    return Path(current_app.config["STORAGE_DIR"]) / "uploads"


def upload_path(job: UploadJob) -> Path:
    return _root() / str(job.merchant_id) / job.storage_key


def _progress_path(job: UploadJob) -> Path:
    return upload_path(job).with_name(job.storage_key + ".progress")


# Largest upload per kind (bytes; MAX_CONTENT_LENGTH caps every request below that). The CSV import streams
# its file (memory does not follow its size); statements and e-invoices are read into memory whole.
LIMITS = {"invoices": 100 * 1024 * 1024, "bank_statement": 200 * 1024 * 1024, "einvoice": 200 * 1024 * 1024}


def sniff(kind: str, data: bytes) -> None:
    """Refuse a file whose content is not what the form asked for (the name is not trusted)."""
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    is_zip = data[:4] == b"PK\x03\x04"
    is_pdf = data[:5] == b"%PDF-"
    # XML, also in UTF-16/UTF-32 (byte order mark, or "<" followed or preceded by a zero byte): camt.read decodes it.
    is_xml = head[:1] == b"<" or data[:2] in (b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<") or data[:4] == b"\x00\x00\xfe\xff"
    if not data:
        raise UploadRefused("empty")
    limit = min(LIMITS[kind], current_app.config.get("MAX_CONTENT_LENGTH") or LIMITS[kind])
    if len(data) > limit:
        raise UploadRefused("too_large", megabytes=limit // (1024 * 1024))
    if kind == "invoices":
        if is_zip or is_pdf or is_xml or b"\x00" in data[:4096]:
            raise UploadRefused("not_csv")
    elif kind == "bank_statement":
        if not (is_zip or is_xml):
            raise UploadRefused("not_camt")
    elif not (is_zip or is_xml or is_pdf):
        raise UploadRefused("not_einvoice")


def queue(merchant: Merchant, user_id: int | None, kind: str, filename: str, data: bytes) -> UploadJob:
    """Store the file and add a queued job (caller commits; the audit row goes in the same transaction)."""
    if kind not in KINDS:
        raise ValueError(kind)
    sniff(kind, data)
    job = UploadJob(merchant_id=merchant.id, user_id=user_id, kind=kind, filename=(filename or "upload")[-255:],
                    storage_key=secrets.token_hex(16), size=len(data), status="queued", attempts=0)
    path = upload_path(job)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    db.session.add(job)
    return job


@dataclass(frozen=True)
class Progress:
    phase: str  # "queued", "checking", "writing", "importing"
    done: int
    total: int

    @property
    def percent(self) -> int | None:
        if self.total <= 0:
            return None
        return max(0, min(100, round(100 * self.done / self.total)))


def progress_of(job: UploadJob) -> Progress:
    if job.status == "queued":
        return Progress("queued", 0, 0)
    try:
        raw = json.loads(_progress_path(job).read_text())
        return Progress(str(raw["phase"]), int(raw["done"]), int(raw["total"]))
    except (OSError, ValueError, KeyError, TypeError):
        return Progress("importing", 0, 0)


class Reporter:
    """Writes the running import's progress for the page to read (atomically: write, then rename)."""

    def __init__(self, job: UploadJob):
        self.path = _progress_path(job)

    def write(self, phase: str, done: int, total: int) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(json.dumps({"phase": phase, "done": done, "total": max(total, done)}))
            os.replace(tmp, self.path)
        except OSError:  # progress is a courtesy; the import goes on without it
            log.warning("cannot write upload progress %s", self.path)

    def csv(self, items: Iterable, length: int, label: str) -> Iterator:
        """The `progress` hook of `import_csv`: rows while checking, batches while writing."""
        phase = "checking" if label == "Checking" else "writing"
        every = PROGRESS_EVERY if phase == "checking" else 1
        self.write(phase, 0, length)
        done = 0
        for item in items:
            yield item
            done += 1
            if done % every == 0:
                self.write(phase, done, length)
        self.write(phase, done, length)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def _claimable(now: datetime):
    return or_(UploadJob.status == "queued",
               and_(UploadJob.status == "running", UploadJob.claimed_at < now - LEASE))


def claim(worker: str, *, now: datetime | None = None) -> int | None:
    """Take the oldest queued job (or a stale lease) and commit the claim; its id, or None."""
    now = now or utcnow()
    pick = select(UploadJob.id).where(_claimable(now)).order_by(UploadJob.created_at, UploadJob.id).limit(1)
    if db.engine.dialect.name == "postgresql":
        job_id = db.session.execute(pick.with_for_update(skip_locked=True)).scalar()
        if job_id is None:
            db.session.commit()
            return None
        db.session.execute(update(UploadJob).where(UploadJob.id == job_id)
                           .values(status="running", claimed_at=now, claimed_by=worker, attempts=UploadJob.attempts + 1))
    else:
        job_id = db.session.execute(pick).scalar()
        if job_id is None:
            db.session.commit()
            return None
        taken = db.session.execute(
            update(UploadJob).where(UploadJob.id == job_id, _claimable(now))
            .values(status="running", claimed_at=now, claimed_by=worker, attempts=UploadJob.attempts + 1)
        ).rowcount
        if not taken:
            db.session.commit()
            return None
    db.session.commit()
    return job_id


def run_once(worker: str) -> int:
    """Import one queued upload, if there is one; returns how many were processed (0 or 1)."""
    job_id = claim(worker)
    if job_id is None:
        return 0
    process(job_id)
    return 1


def drain(worker: str) -> int:
    count = 0
    while run_once(worker):
        count += 1
    return count


@writing
def process(job_id: int) -> None:
    """Run the claimed job's import and record the outcome (commits). On SQLite the import's transaction takes the
    write lock before its first read (`portal.transactions`): its duplicate checks see the last commit."""
    job = db.session.get(UploadJob, job_id)
    merchant = db.session.get(Merchant, job.merchant_id)
    reporter = Reporter(job)
    actor = f"user:{job.user_id}" if job.user_id else "system:upload"
    try:
        # A CSV file is read as a stream by the import (memory does not follow its size); the others whole.
        raw = upload_path(job) if job.kind == "invoices" and upload_path(job).is_file() else upload_path(job).read_bytes()
    except OSError:
        _finish(job, "failed", problems=[{"where": None, "messages": ["missing_file"]}])
        return
    if job.attempts > MAX_ATTEMPTS:
        _finish(job, "failed", problems=[{"where": None, "messages": ["gave_up"]}])
        return
    today = today_for(merchant.timezone)
    try:
        status, result, problems = RUNNERS[job.kind](job, merchant, raw, today=today, actor=actor, reporter=reporter)
    except Exception:  # recorded on the job and logged; the worker goes on with the next one
        db.session.rollback()
        log.exception("upload job %s failed", job_id)
        job = db.session.get(UploadJob, job_id)
        _finish(job, "failed", problems=[{"where": None, "messages": ["internal"]}])
        reporter.clear()
        return
    if status != "done":
        db.session.rollback()
        job = db.session.get(UploadJob, job_id)
    _finish(job, status, result=result, problems=problems)
    reporter.clear()


def _finish(job: UploadJob, status: str, *, result: dict | None = None, problems: list | None = None) -> None:
    job.status, job.result, job.problems = status, result, problems
    job.finished_at = utcnow()
    db.session.add(Event(merchant_id=job.merchant_id, kind=f"upload.{status}",
                         actor=f"user:{job.user_id}" if job.user_id else "system:upload",
                         data={"job": job.id, "file": job.filename, "upload": job.kind,
                               **{k: v for k, v in (result or {}).items() if isinstance(v, int)},
                               "problems": len(problems or [])}))
    db.session.commit()


def _invoices(job, merchant, raw, *, today, actor, reporter):
    from portal.intake.csv_import import ImportRejected, import_csv

    try:
        result = import_csv(raw, merchant, today=today, actor=actor, progress=reporter.csv)
    except ImportRejected as exc:
        return "rejected", None, [{"where": e.line, "messages": list(e.messages)} for e in exc.errors]
    return "done", {"created": result.created, "unchanged": result.unchanged, "rows": result.rows,
                    "debtors_created": result.debtors_created, "debtors_updated": result.debtors_updated}, None


def _bank_statement(job, merchant, raw, *, today, actor, reporter):
    from portal.domain.camt import CamtError
    from portal.payments.reconcile import import_statements

    seen = {"entries": 0}

    def progress(entries: int) -> None:
        seen["entries"] = entries
        reporter.write("importing", entries, 0)

    try:
        result = import_statements(merchant, raw, job.filename, actor=actor, today=today, progress=progress)
    except CamtError as exc:
        from portal.uploads.camt_messages import split_file

        where, message = split_file(str(exc), job.filename)
        return "rejected", None, [{"where": where, "messages": [message]}]
    return "done", {"files": len(result.files), "already_imported": sum(f.already_imported for f in result.files),
                    "booked": result.total("booked"), "unmatched": result.total("unmatched"),
                    "returns": result.total("reversed"), "duplicates": result.total("duplicates"),
                    "implausible": result.total("implausible")}, None


def _einvoice(job, merchant, raw, *, today, actor, reporter):
    from portal.intake.einvoice_batch import BatchRejected, import_files

    reporter.write("importing", 0, 0)
    try:
        result = import_files([(job.filename, raw)], merchant, today=today, actor=actor,
                              storage_dir=current_app.config["STORAGE_DIR"])
    except BatchRejected as exc:
        return "rejected", None, [{"where": e.name, "messages": list(e.messages)} for e in exc.errors]
    return "done", {"files": result.files, "created": result.created, "unchanged": result.unchanged,
                    "credited": result.credited,
                    "warnings": [[name, term, message] for name, term, message in result.warnings]}, None


RUNNERS = {"invoices": _invoices, "bank_statement": _bank_statement, "einvoice": _einvoice}
