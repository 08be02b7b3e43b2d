"""Email over SMTP: multipart text + HTML, stable Message-ID, Reply-To the merchant.

Flask-Mail holds the SMTP configuration and the connection. The message itself is
serialised with the standard library's compat32 MIME classes and handed to the
connection's SMTP client: Flask-Mail's own serialisation re-parses every header through
the modern email policy and took most of the sending time (about 4 ms a message against
0.3 ms). When Flask-Mail suppresses sending (TESTING without MAIL_SUPPRESS_SEND=False)
its own path is used, so its recording of outgoing mail keeps working.

One message never harms the next on the same connection: addresses are encoded before
the SMTP conversation starts (IDNA for the domain; a non-ASCII local part needs the
server's SMTPUTF8, else that one message fails permanently and falls back), and after
any failure other than a refused recipient (which smtplib answers with RSET itself) the
connection is closed, so the next message starts on a fresh one instead of on whatever
state the failed conversation left (a half-open MAIL transaction answers the next MAIL
FROM with "503", which would otherwise be taken as the next message's failure).
A conversation broken in the middle of DATA (an exception while the body is written, the
socket failing half-way, the durable mark refused before the dot) is abandoned: the socket
is closed without another word. Neither RSET nor QUIT can be sent there (the server would
read them as more of the message and wait for the rest, while the client waited for an
answer that never comes), and the dot must never be sent (the server would deliver the
truncated message); on a closed connection the server discards the transaction. Every wait
for the server is bounded by MAIL_TIMEOUT_SECONDS, so a server that stops answering costs
one retried message, never a worker stuck for good.

Exactly once: the conversation stops after the message's last line, before DATA's final
dot, and calls `handing()` (the worker commits its durable mark there). Until the dot the
server keeps nothing: a worker killed before it leaves no message behind, and the next
worker sends it. Once the dot is out the message may be delivered; if the server's answer
is then lost (the connection drops), `InDoubt` is raised and the message is never sent again.
"""
from __future__ import annotations

import binascii
import email.policy
import hashlib
import smtplib
import socket
import uuid
from dataclasses import dataclass
from email.charset import QP, Charset
from email.header import Header
from email.policy import compat32
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import formataddr, formatdate, parseaddr

from flask import current_app
from flask_mail import Connection as MailConnection
from flask_mail import Message as MailMessage

from portal.domain.email_address import AddressError, wire_address
from portal.messaging.channels import ChannelError
from portal.models import Merchant, Message


class InDoubt(ChannelError):
    """The message was handed over (final dot sent) but the server's answer never came: it may have been delivered."""


# compat32 headers (fast) with the CRLF line ends SMTP requires (smtplib does not fix bytes).
_WIRE = compat32.clone(linesep="\r\n")
_QP_UTF8 = Charset("utf-8")
_QP_UTF8.body_encoding = QP
# For SMTPUTF8 deliveries: address headers in raw UTF-8 (RFC 6532), which compat32 cannot write.
_WIRE_UTF8 = email.policy.SMTPUTF8.clone(linesep="\r\n")


def message_id(message: Message) -> str:
    """The same Message-ID on every attempt, so a resent email is recognised as the same one."""
    sender = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"] or "settle@localhost")[1]
    domain = sender.rpartition("@")[2] or "localhost"
    digest = hashlib.sha256(message.dedupe_key.encode()).hexdigest()[:12]
    return f"<settle.{message.id}.{digest}@{domain}>"


@dataclass(frozen=True)
class OutgoingEmail:
    sender_name: str
    sender: str
    recipient: str
    reply_to: str | None
    subject: str
    text: str
    html: str
    message_id: str

    def as_bytes(self, *, utf8: bool = False) -> bytes:
        """The wire form; `utf8` (an SMTPUTF8 delivery) writes address headers in raw UTF-8."""
        if utf8:
            return self._mime(utf8=True).as_bytes(policy=_WIRE_UTF8)
        # Written directly: the same headers and quoted-printable parts the compat32 classes write, at a
        # tenth of their cost (their generator and pure-Python quoted-printable were a third of a send).
        subject = self.subject
        if not subject.isascii() or len(subject) > 70:
            subject = Header(subject, "utf-8" if not subject.isascii() else "us-ascii").encode(linesep="\r\n")
        boundary = f"=_{uuid.uuid4().hex[:24]}"  # "=_" never occurs in quoted-printable text
        head = [
            f'Content-Type: multipart/alternative; boundary="{boundary}"', "MIME-Version: 1.0",
            f"From: {formataddr((self.sender_name, self.sender), charset='utf-8')}",
            f"To: {wire_address(self.recipient)[0]}",
        ]
        if self.reply_to:
            head.append(f"Reply-To: {wire_address(self.reply_to)[0]}")
        head += [f"Subject: {subject}", f"Date: {formatdate(localtime=False)}", f"Message-ID: {self.message_id}",
                 "Auto-Submitted: auto-generated"]
        out = ["\r\n".join(head).encode("ascii"), b"\r\n\r\n"]
        for body, subtype in ((self.text, "plain"), (self.html, "html")):
            out += [f"--{boundary}\r\nContent-Type: text/{subtype}; charset=\"utf-8\"\r\nMIME-Version: 1.0\r\n"
                    "Content-Transfer-Encoding: quoted-printable\r\n\r\n".encode("ascii"), _qp(body), b"\r\n"]
        out.append(f"--{boundary}--\r\n".encode("ascii"))
        return b"".join(out)

    def _mime(self, *, utf8: bool) -> MIMEMultipart:
        mime = MIMEMultipart("alternative")
        mime["From"] = formataddr((self.sender_name, self.sender), charset="utf-8")
        mime["To"] = self.recipient if utf8 else wire_address(self.recipient)[0]
        if self.reply_to:
            mime["Reply-To"] = self.reply_to if utf8 else wire_address(self.reply_to)[0]
        mime["Subject"] = Header(self.subject, "utf-8").encode() if not self.subject.isascii() else self.subject
        mime["Date"] = formatdate(localtime=False)
        mime["Message-ID"] = self.message_id
        mime["Auto-Submitted"] = "auto-generated"
        for body, subtype in ((self.text, "plain"), (self.html, "html")):
            part = MIMENonMultipart("text", subtype)
            part.set_payload(body, charset=_QP_UTF8)  # quoted-printable: lines stay under SMTP's limit
            mime.attach(part)
        return mime

    def needs_smtputf8(self) -> bool:
        """Raises AddressError for an address that cannot be sent at all."""
        return any(wire_address(a)[1] for a in (self.sender, self.recipient, self.reply_to) if a)

    def flask_mail_message(self) -> MailMessage:
        mail_message = MailMessage(
            subject=self.subject, recipients=[self.recipient], body=self.text, html=self.html,
            sender=(self.sender_name, self.sender), reply_to=self.reply_to,
            extra_headers={"Auto-Submitted": "auto-generated"},
        )
        mail_message.msgId = self.message_id
        return mail_message


def _qp(text: str) -> bytes:
    """Quoted-printable UTF-8 with CRLF line ends and lines of at most 76 characters (RFC 2045)."""
    crlf = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")
    return binascii.b2a_qp(crlf.encode("utf-8"), istext=True)


def build(message: Message, merchant: Merchant, subject: str, text: str, html: str) -> OutgoingEmail:
    sender = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"] or "settle@localhost")[1]
    return OutgoingEmail(merchant.name, sender, message.recipient, merchant.support_email or None, subject, text, html,
                         message_id(message))


def check_recipient(outgoing: OutgoingEmail) -> tuple[bool, str]:
    """(needs SMTPUTF8, the address as sent); a permanent ChannelError when it cannot be sent at all."""
    try:
        utf8 = outgoing.needs_smtputf8()
        return utf8, outgoing.recipient if utf8 else wire_address(outgoing.recipient)[0]
    except AddressError as exc:
        raise ChannelError(str(exc), permanent=True) from exc


class _Connection(MailConnection):
    """Flask-Mail's connection with every wait for the server bounded (Flask-Mail opens it without a timeout)."""

    def __init__(self, state, timeout: float):
        super().__init__(state)
        self.timeout = timeout

    def configure_host(self) -> smtplib.SMTP:
        factory = smtplib.SMTP_SSL if self.mail.use_ssl else smtplib.SMTP
        host = factory(self.mail.server, self.mail.port, timeout=self.timeout)
        host.set_debuglevel(int(self.mail.debug))
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host


class EmailSession:
    """One SMTP connection for a batch of messages (opened on first use)."""

    def __init__(self):
        self._ctx = None
        self._conn = None

    def send(self, outgoing: OutgoingEmail, handing=None) -> None:
        """Send one message; `handing()` is called once the server has the whole message but before the
        final dot that makes it deliver it (it raises to take the message back: the connection is dropped)."""
        utf8, recipient = check_recipient(outgoing)
        handing = handing or (lambda: None)
        try:
            if self._conn is not None and self._conn.host is not None and self._conn.host.sock is None:
                self.close()  # the server ended it (421), or a broken conversation was dropped: start afresh
            if self._conn is None:
                self._ctx = _Connection(current_app.extensions["mail"],
                                        float(current_app.config.get("MAIL_TIMEOUT_SECONDS", 30)))
                self._conn = self._ctx.__enter__()
                if self._conn.host is not None and self._conn.host.sock is not None:
                    # Each command waits for its answer anyway; without this the short final dot after
                    # the message waits for the ACK of the message (Nagle's algorithm).
                    self._conn.host.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._conn.host is None:  # Flask-Mail suppresses sending: let it record the message
                handing()
                self._conn.send(outgoing.flask_mail_message())
                return
            smtp = self._conn.host
            options: list[str] = []
            if utf8:
                smtp.ehlo_or_helo_if_needed()
                if not smtp.has_extn("smtputf8"):
                    raise ChannelError(
                        f"the address {outgoing.recipient!r} needs SMTPUTF8, which the mail server does not offer",
                        permanent=True)
                options = ["SMTPUTF8", "BODY=8BITMIME"] if smtp.has_extn("8bitmime") else ["SMTPUTF8"]
            _sendmail(smtp, outgoing.sender, recipient, outgoing.as_bytes(utf8=utf8), options, handing)
        except InDoubt:
            self.close(polite=False)
            raise
        except ChannelError:
            raise
        except smtplib.SMTPRecipientsRefused as exc:  # smtplib has sent RSET: the connection is clean
            raise ChannelError(f"recipient refused: {exc.recipients}", permanent=True) from exc
        except smtplib.SMTPResponseException as exc:  # the server answered: it is waiting for a command, QUIT is fine
            self.close()
            raise ChannelError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", permanent=500 <= exc.smtp_code < 600) from exc
        except (smtplib.SMTPException, OSError) as exc:  # the connection is broken or its state unknown
            self.close(polite=False)
            raise ChannelError(f"SMTP: {type(exc).__name__}: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 — a client-side fault mid-conversation: only this message fails
            self.close(polite=False)
            raise ChannelError(f"SMTP: {type(exc).__name__}: {exc}", permanent=isinstance(exc, UnicodeError)) from exc

    def close(self, *, polite: bool = True) -> None:
        """End the connection: with QUIT when the server is waiting for a command (`polite`), else by closing
        the socket (after a fault whose place in the conversation is unknown, QUIT could be read as message text)."""
        host = getattr(self._conn, "host", None)
        if self._ctx is not None and polite and host is not None and host.sock is not None:
            try:
                self._ctx.__exit__(None, None, None)  # QUIT
            except Exception:  # noqa: BLE001 — the connection is gone either way; the next send opens a new one
                pass
        if host is not None:
            try:  # QUIT may have failed half-way, or was not sent: make sure the socket is closed
                host.close()
            except OSError:
                pass
        self._ctx = self._conn = None


def _sendmail(smtp: smtplib.SMTP, sender: str, recipient: str, raw: bytes, options: list[str], handing) -> None:
    """`smtplib.SMTP.sendmail` for one recipient, with the DATA command split before its final dot."""
    smtp.ehlo_or_helo_if_needed()
    code, answer = smtp.mail(sender, options)
    if code != 250:
        if code == 421:
            smtp.close()
        else:
            smtp._rset()
        raise smtplib.SMTPSenderRefused(code, answer, sender)
    code, answer = smtp.rcpt(recipient)
    if code not in (250, 251):
        if code == 421:
            smtp.close()
        else:
            smtp._rset()
        raise smtplib.SMTPRecipientsRefused({recipient: (code, answer)})
    smtp.putcmd("data")
    code, answer = smtp.getreply()
    if code != 354:
        raise smtplib.SMTPDataError(code, answer)
    # From here until the final dot the server takes every byte as message text: whatever breaks in between,
    # the conversation cannot be continued, so the socket is closed at once (the server then discards it).
    try:
        body = smtplib._quote_periods(raw)
        if body[-2:] != b"\r\n":
            body += b"\r\n"
        smtp.send(body)
        handing()  # from the dot on, the message may be delivered: the worker's mark must be durable first
    except BaseException:
        smtp.close()
        raise
    try:
        smtp.send(b".\r\n")
        code, answer = smtp.getreply()
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        smtp.close()
        raise InDoubt(f"SMTP: the connection ended after the message was handed over ({type(exc).__name__}: {exc}); "
                      "it may have been delivered") from exc
    if code != 250:
        raise smtplib.SMTPDataError(code, answer)
