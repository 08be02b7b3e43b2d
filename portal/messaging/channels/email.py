"""Email through Flask-Mail over SMTP: multipart text + HTML, stable Message-ID, Reply-To the merchant."""
from __future__ import annotations

import hashlib
import smtplib
from email.utils import parseaddr

from flask import current_app
from flask_mail import Message as MailMessage

from portal.extensions import mail
from portal.messaging.channels import ChannelError
from portal.models import Merchant, Message


def message_id(message: Message) -> str:
    """The same Message-ID on every attempt, so a resent email is recognised as the same one."""
    sender = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"] or "settle@localhost")[1]
    domain = sender.rpartition("@")[2] or "localhost"
    digest = hashlib.sha256(message.dedupe_key.encode()).hexdigest()[:12]
    return f"<settle.{message.id}.{digest}@{domain}>"


def build(message: Message, merchant: Merchant, subject: str, text: str, html: str) -> MailMessage:
    sender = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"] or "settle@localhost")[1]
    mail_message = MailMessage(
        subject=subject,
        recipients=[message.recipient],
        body=text,
        html=html,
        sender=(merchant.name, sender),
        reply_to=merchant.support_email or None,
        extra_headers={"Auto-Submitted": "auto-generated"},
    )
    mail_message.msgId = message_id(message)
    return mail_message


class EmailSession:
    """One SMTP connection for a batch of messages (opened on first use)."""

    def __init__(self):
        self._ctx = None
        self._conn = None

    def send(self, mail_message: MailMessage) -> None:
        try:
            if self._conn is None:
                self._ctx = mail.connect()
                self._conn = self._ctx.__enter__()
            self._conn.send(mail_message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise ChannelError(f"recipient refused: {exc.recipients}", permanent=True) from exc
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise ChannelError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", permanent=500 <= exc.smtp_code < 600) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise ChannelError(f"SMTP: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        if self._ctx is not None:
            try:
                self._ctx.__exit__(None, None, None)
            except (smtplib.SMTPException, OSError):
                pass  # the connection is gone either way; the next send opens a new one
        self._ctx = self._conn = None
