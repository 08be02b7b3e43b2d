"""Development sinks for `make run`: mail and SMS are caught on this machine instead of sent.

The demo should show the whole loop (reminders going out, landing in the outbox as
sent) on a laptop with no mail server and no SMS account. `make run` starts an SMTP
server on 127.0.0.1:1025 that writes every message as an .eml file under
instance/mail/, and selects the "file" SMS provider, which writes each SMS under
instance/sms/. Production configures a real MAIL_SERVER and SMS_PROVIDER instead.
"""
from __future__ import annotations

import socket
import time
from pathlib import Path


class _MaildirHandler:
    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns()}.eml"
        (self.folder / name).write_bytes(envelope.original_content or envelope.content)
        return "250 OK"


def port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) != 0


def start_mail_sink(folder: Path, host: str = "127.0.0.1", port: int = 1025):
    """An SMTP server writing .eml files into `folder`; None if something already listens there."""
    if not port_free(host, port):
        return None
    from aiosmtpd.controller import Controller

    controller = Controller(_MaildirHandler(folder), hostname=host, port=port)
    controller.start()
    return controller
