"""Benchmark: sending throughput of the outbox worker's email path against a plain smtplib loop.

    .venv/bin/python bench/send_mail.py --messages 2000 [--database-url postgresql+psycopg://…]

Queues N dunning reminders (N debtors, one invoice each, one real dunning run), starts an
aiosmtpd server on loopback in its own process (it spools what it receives to a file, the
same work for both parts), then times, in the same invocation:

(a) the real worker path: `portal.messaging.worker.drain` (what `flask worker --once` does):
    claim in batches, render text + HTML in the debtor's language with a fresh signed link,
    build the MIME message with Flask-Mail, send it over SMTP (one connection per worker
    batch), record status, provider id and an event, commit after each message;
(b) the baseline: a plain `smtplib` loop over one connection sending the very same bytes the
    server received in (a) (pre-rendered), with the same envelopes.

Prints messages per second of both and the worker's share of the baseline (target ≥ 60 %).
"""
from __future__ import annotations

import argparse
import os
import smtplib
import socket
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

TODAY = date(2025, 6, 29)


def serve(port: int, spool: str, count, ready, stop) -> None:
    """The SMTP server, in its own process (as a real one would be): counts and spools what it receives."""
    import pickle

    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            with open(spool, "ab") as fh:
                pickle.dump((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content), fh)
            with count.get_lock():
                count.value += 1
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


def received(spool: str) -> list[tuple[str, list[str], bytes]]:
    import pickle

    out = []
    with open(spool, "rb") as fh:
        while True:
            try:
                out.append(pickle.load(fh))
            except EOFError:
                return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(n: int) -> int:
    from portal.dunning.run import run
    from portal.extensions import db
    from portal.models import Merchant

    merchant = Merchant(slug="bench", name="Gartenhaus Bench", legal_name="Gartenhaus Bench GmbH", iban="DE89370400440532013000",
                        support_email="hilfe@bench.example")
    db.session.add(merchant)
    db.session.commit()
    conn = db.session.connection()
    conn.execute(text(
        "INSERT INTO debtor (merchant_id, external_ref, kind, name, email, language, consent_email, consent_sms, link_version,"
        " created_at, updated_at) VALUES (:m, :r, 'person', :name, :e, :lang, true, false, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
        [{"m": merchant.id, "r": f"D{i}", "name": f"Erika Muster {i}", "e": f"d{i}@example.de", "lang": "en" if i % 5 == 4 else "de"}
         for i in range(n)])
    first = conn.execute(text("SELECT min(id) FROM debtor WHERE merchant_id = :m"), {"m": merchant.id}).scalar()
    due = TODAY - timedelta(days=7)
    conn.execute(text(
        "INSERT INTO invoice (merchant_id, debtor_id, number, issue_date, due_date, currency, amount_minor, open_minor, status,"
        " rf_reference, intake_fingerprint, dunning_level, next_action_on, order_ref, created_at, updated_at)"
        " VALUES (:m, :d, :n, :issue, :due, 'EUR', :amount, :amount, 'open', :rf, 'x', 0, :t, :o, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
        [{"m": merchant.id, "d": first + i, "n": f"RE-{i}", "issue": due - timedelta(days=14), "due": due, "amount": 4990 + i,
          "rf": f"RF{i:020d}"[:25], "t": TODAY, "o": f"B-{i}"} for i in range(n)])
    db.session.commit()
    result = run(today=TODAY, merchant=db.session.get(Merchant, merchant.id))
    assert result.messages == n, result.summary()
    return merchant.id


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file under /tmp")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print the N top cProfile entries of the worker")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:////tmp/settle-bench-mail-{os.getpid()}.sqlite3"

    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    spool = f"/tmp/settle-bench-mail-{os.getpid()}.spool"
    count, ready, stop = ctx.Value("i", 0), ctx.Event(), ctx.Event()
    port = free_port()
    server = ctx.Process(target=serve, args=(port, spool, count, ready, stop), daemon=True)
    server.start()
    ready.wait(10)
    from portal import create_app
    from portal.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port,
                      "MAIL_DEFAULT_SENDER": "mahnung@bench.example", "MAIL_SUPPRESS_SEND": False})
    try:
        with app.app_context(), app.test_request_context():
            db.drop_all()
            db.create_all()
            t0 = time.perf_counter()
            build(args.messages)
            print(f"queued {args.messages} dunning emails in {time.perf_counter() - t0:.1f}s", flush=True)
            from portal.messaging import worker

            now = datetime.now(timezone.utc) + timedelta(seconds=1)
            profiler = None
            if args.profile:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            t0 = time.perf_counter()
            result = worker.drain(now=now)
            worker_s = time.perf_counter() - t0
            if profiler:
                import pstats

                profiler.disable()
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
                pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
            assert result.sent == args.messages and count.value == args.messages, (result, count.value)
            sent = received(spool)
            size = sum(len(raw) for _, _, raw in sent) / len(sent)
            worker_rate = args.messages / worker_s
            print(f"worker: {args.messages} sent in {worker_s:.2f}s = {worker_rate:.0f} messages/s "
                  f"(batches of {worker.BATCH}, mean size {size / 1024:.1f} KiB)", flush=True)

            t0 = time.perf_counter()
            with smtplib.SMTP("127.0.0.1", port) as smtp:
                for mail_from, rcpt_tos, raw in sent:
                    smtp.sendmail(mail_from, rcpt_tos, raw)
            base_s = time.perf_counter() - t0
            assert count.value == 2 * args.messages
            base_rate = args.messages / base_s
            print(f"baseline (smtplib, one connection, same bytes): {base_s:.2f}s = {base_rate:.0f} messages/s", flush=True)
            print(f"worker / baseline: {worker_rate / base_rate:.0%} (target >= 60 %)", flush=True)
    finally:
        stop.set()
        server.join(10)
        if os.path.exists(spool):
            os.unlink(spool)
        if url.startswith("sqlite:////tmp/settle-bench"):
            os.unlink(url.removeprefix("sqlite:///"))


if __name__ == "__main__":
    main()
