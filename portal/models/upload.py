"""Files staff upload in the back office (invoice CSV, bank statements, e-invoices), imported by the worker.

The request only stores the file under STORAGE_DIR and writes a job row; `flask worker`
claims queued jobs (a lease, like the outbox), runs the same import function as the command
line in its own transaction, and records the outcome here: the counts, or every bad line or
file. Progress while a job runs is written next to the file (see `portal.uploads.jobs`).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.types import JSONType, UTCDateTime, utcnow


class UploadJob(db.Model):
    __tablename__ = "upload_job"
    __table_args__ = (
        CheckConstraint("kind IN ('invoices', 'bank_statement', 'einvoice')", name="kind_known"),
        CheckConstraint("status IN ('queued', 'running', 'done', 'rejected', 'failed')", name="status_known"),
        Index("ix_upload_job_queue", "status", "created_at"),
        Index("ix_upload_job_merchant", "merchant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Surrogate key")
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id", ondelete="CASCADE"), comment="Tenant")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"), comment="Staff member who uploaded it")
    kind: Mapped[str] = mapped_column(String(20), comment="invoices (CSV), bank_statement (camt XML/ZIP), einvoice (XML/PDF/ZIP)")
    filename: Mapped[str] = mapped_column(String(255), comment="The file's name as uploaded (shown, never used as a path)")
    storage_key: Mapped[str] = mapped_column(String(80), unique=True, comment="Random file name under STORAGE_DIR/uploads/<merchant>/")
    size: Mapped[int] = mapped_column(Integer, comment="Bytes")
    status: Mapped[str] = mapped_column(String(12), default="queued",
                                        comment="queued, running, done, rejected (bad content, nothing booked), failed (error)")
    attempts: Mapped[int] = mapped_column(Integer, default=0, comment="How often a worker started it")
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="Lease start while a worker imports it")
    claimed_by: Mapped[str | None] = mapped_column(String(120), comment="Worker holding the lease")
    result: Mapped[dict | None] = mapped_column(JSONType, comment="Counts of a finished import, e.g. {\"created\": 20}")
    problems: Mapped[list | None] = mapped_column(JSONType, comment="Bad lines or files: [{\"where\": 3, \"messages\": [...]}]")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, comment="When it was uploaded")
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="When the import ended (any outcome)")

    @property
    def finished(self) -> bool:
        return self.status in ("done", "rejected", "failed")
