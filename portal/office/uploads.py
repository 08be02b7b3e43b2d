"""Back office uploads: invoice CSV, bank statements and e-invoices, imported outside the request.

The form stores the file and queues a job (`portal.uploads.jobs`); the job page shows its
progress (htmx polls the status partial; without JavaScript a reload link and a meta refresh
do the same) and, when it is done, what was imported or every bad line with its reason.
"""
from __future__ import annotations

from flask import g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import format_decimal, format_number
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy import select

from portal.extensions import db
from portal.models import UploadJob
from portal.office import audit, bp, register_nav, scoped_get
from portal.uploads import jobs
from portal.uploads.messages import explain, refusal

register_nav("office.uploads", _l("Uploads"))

FIELDS = {"invoices": "invoice_file", "einvoice": "einvoice_file", "bank_statement": "statement"}
PAGE_SIZE = 20

KIND_LABELS = {
    "invoices": _l("Invoices (CSV)"),
    "bank_statement": _l("Bank statement"),
    "einvoice": _l("E-invoices"),
}
STATUS_LABELS = {
    "queued": lazy_pgettext("upload", "Waiting"),
    "running": lazy_pgettext("upload", "Importing"),
    "done": lazy_pgettext("upload", "Imported"),
    "rejected": lazy_pgettext("upload", "Rejected, nothing imported"),
    "failed": lazy_pgettext("upload", "Not completed"),
}


@bp.app_context_processor
def upload_helpers():
    from portal.uploads.einvoice_messages import explain as explain_einvoice

    return {"upload_kind_label": lambda kind: str(KIND_LABELS.get(kind, kind)),
            "upload_status_label": lambda status: str(STATUS_LABELS.get(status, status)),
            "explain_einvoice": explain_einvoice}


@bp.app_template_filter("thousands")
def thousands(value) -> str:
    return format_number(value or 0)


@bp.app_template_filter("filesize")
def filesize(size: int) -> str:
    """Bytes as the reader writes them: 1,5 MB / 1.5 MB."""
    if size < 1000:
        return _("%(n)s bytes", n=format_number(size))
    if size < 1_000_000:
        return _("%(n)s kB", n=format_decimal(size / 1000, format="#,##0.#"))
    return _("%(n)s MB", n=format_decimal(size / 1_000_000, format="#,##0.#"))


def recent_jobs(kinds: tuple[str, ...] = jobs.KINDS) -> list[UploadJob]:
    return db.session.execute(
        select(UploadJob).where(UploadJob.merchant_id == g.merchant.id, UploadJob.kind.in_(kinds))
        .order_by(UploadJob.created_at.desc(), UploadJob.id.desc()).limit(PAGE_SIZE)
    ).scalars().all()


def _page(status: int = 200, errors: dict | None = None):
    return render_template("office/uploads.html", jobs=recent_jobs(), errors=errors or {}), status


@bp.get("/uploads")
def uploads():
    return _page()


def queue_upload(kind: str, field: str):
    """Store the posted file and queue its import; (job, None) or (None, error message)."""
    upload = request.files.get(field)
    if upload is None or not upload.filename:
        return None, str(refusal("missing", kind))
    with upload.stream:  # a large part is spooled to a temporary file: close it now
        data = upload.read()
    try:
        job = jobs.queue(g.merchant, g.user.id, kind, upload.filename, data)
    except jobs.UploadRefused as exc:
        return None, str(refusal(exc.reason, kind, **exc.params))
    db.session.flush()
    audit("upload.queued", {"job": job.id, "file": job.filename, "upload": kind, "bytes": job.size})
    db.session.commit()
    return job, None


@bp.post("/uploads")
def upload_create():
    kind = request.form.get("kind", "")
    if kind not in FIELDS:
        return _page(422, {"form": _("Please choose what you are uploading.")})
    job, error = queue_upload(kind, FIELDS[kind])
    if error:
        return _page(422, {kind: error})
    return redirect(url_for("office.upload_job", job_id=job.id), 303)


@bp.get("/uploads/<int:job_id>")
def upload_job(job_id: int):
    job = scoped_get(UploadJob, job_id)
    context = {"job": job, "progress": jobs.progress_of(job), "problems": _problems(job)}
    if request.headers.get("HX-Request"):
        return render_template("office/partials/_upload_status.html", **context), 200, {"Vary": "HX-Request"}
    return render_template("office/upload_job.html", **context), 200, {"Vary": "HX-Request"}


def _problems(job: UploadJob) -> list[tuple[object, list[str]]]:
    """(line or file, translated messages) of a rejected or failed job."""
    return [(p.get("where"), [explain(m, job.kind) for m in p.get("messages", [])]) for p in job.problems or []]
