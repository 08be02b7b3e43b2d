"""The development sinks that let `make run` show the whole loop without a mail server or SMS account."""
import smtplib
import socket
from email.message import EmailMessage

from portal.devsink import port_free, start_mail_sink
from portal.messaging.channels.sms import provider
from tests.dunning.helpers import free_port


def test_the_mail_sink_keeps_every_message_as_an_eml_file(tmp_path):
    port = free_port()
    sink = start_mail_sink(tmp_path, port=port)
    try:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "a@example.de", "b@example.de", "Zahlungserinnerung"
        msg.set_content("Guten Tag")
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.send_message(msg)
    finally:
        sink.stop()
    [saved] = list(tmp_path.glob("*.eml"))
    assert b"Subject: Zahlungserinnerung" in saved.read_bytes()


def test_the_mail_sink_stays_out_of_the_way_of_a_real_server(tmp_path):
    with socket.socket() as server:  # stands for a mail server the developer runs already
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert not port_free("127.0.0.1", port)
        assert start_mail_sink(tmp_path, port=port) is None


def test_the_file_sms_provider_writes_each_sms(app, tmp_path):
    app.config.update(SMS_PROVIDER="file", SMS_FILE_DIR=str(tmp_path))
    sid = provider().send("+491701234567", "Gartenhaus: Ihre Rechnung ist fällig: https://pay.example.de/p/x")
    text = (tmp_path / f"{sid}.txt").read_text(encoding="utf-8")
    assert "+491701234567" in text and "fällig" in text
