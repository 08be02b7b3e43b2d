"""SMS through Twilio's Messages API behind a small interface.

Twilio: `POST {api_base}/2010-04-01/Accounts/{AccountSid}/Messages.json` with the form
fields To, From (or MessagingServiceSid) and Body, HTTP Basic auth with the account SID
and auth token; the answer is JSON with the message `sid` (our provider id), or an error
with `code` and `message`. 4xx answers (bad number, unsubscribed recipient) are
permanent, 429 and 5xx answers and network errors are retried. Configure with
SMS_PROVIDER=twilio, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM (and
TWILIO_API_BASE to point at a stand-in in tests).
"""
from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Protocol

from flask import current_app

from portal.messaging.channels import ChannelError


class SmsProvider(Protocol):
    def send(self, to: str, body: str) -> str:
        """Hand the SMS to the provider; returns its id, raises ChannelError."""


class TwilioSms:
    def __init__(self, *, account_sid: str, auth_token: str, sender: str, api_base: str = "https://api.twilio.com",
                 timeout: float = 15.0):
        self.account_sid, self.auth_token, self.sender = account_sid, auth_token, sender
        self.api_base, self.timeout = api_base.rstrip("/"), timeout

    def send(self, to: str, body: str) -> str:
        url = f"{self.api_base}/2010-04-01/Accounts/{urllib.parse.quote(self.account_sid)}/Messages.json"
        field = "MessagingServiceSid" if self.sender.startswith("MG") else "From"
        data = urllib.parse.urlencode({"To": to, field: self.sender, "Body": body}).encode()
        auth = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        request = urllib.request.Request(url, data=data, method="POST", headers={
            "Authorization": f"Basic {auth}", "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json",
        })
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = _error_detail(exc)
            raise ChannelError(f"Twilio {exc.code}: {detail}", permanent=400 <= exc.code < 500 and exc.code != 429) from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ChannelError(f"Twilio unreachable: {exc}") from exc
        sid = answer.get("sid")
        if not sid:
            raise ChannelError(f"Twilio answered without a message sid: {answer!r}")
        return sid


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
        return f"{body.get('code')} {body.get('message')}"
    except ValueError:
        return exc.reason


def provider() -> SmsProvider:
    config = current_app.config
    name = config.get("SMS_PROVIDER")
    if name == "twilio":
        missing = [k for k in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM") if not config.get(k)]
        if missing:
            raise ChannelError(f"SMS not configured: {', '.join(missing)} missing", permanent=True)
        return TwilioSms(account_sid=config["TWILIO_ACCOUNT_SID"], auth_token=config["TWILIO_AUTH_TOKEN"],
                         sender=config["TWILIO_FROM"], api_base=config.get("TWILIO_API_BASE") or "https://api.twilio.com")
    if name == "file":
        return FileSms(Path(config.get("SMS_FILE_DIR") or Path(current_app.instance_path) / "sms"))
    raise ChannelError("SMS not configured (SMS_PROVIDER is not set)", permanent=True)


class FileSms:
    """Development provider (`make run`): each SMS becomes a text file; nothing leaves the machine."""

    def __init__(self, folder: Path):
        self.folder = folder

    def send(self, to: str, body: str) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        sid = f"file-{uuid.uuid4().hex[:16]}"
        (self.folder / f"{sid}.txt").write_text(f"To: {to}\n\n{body}\n", encoding="utf-8")
        return sid
