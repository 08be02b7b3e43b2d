"""Benchmark: sending throughput of the outbox worker per channel, each against its floor, in one invocation.

    .venv/bin/python bench/send_mail.py [--messages 2000] [--letters 40] [--repeat 3]
        [--channels email,sms,letter] [--database-url postgresql+psycopg://…] [--profile 40]

Each round queues N dunning reminders (N debtors reachable on one channel, one invoice each,
one real dunning run) and times `portal.messaging.worker.drain` (what `flask worker --once`
does: claim in batches, read each batch in a few set queries, render in the debtor's language
with a fresh signed link and the invoices still open, hand over with durable marks, record the
batch) against the floor of that channel:

- email: an aiosmtpd server on loopback in its own process (it spools what it receives to a
  file, the same work for both parts); the floor is a plain `smtplib` loop over one connection
  sending the very same bytes the server received from the worker, with the same envelopes
  (target: the worker at >= 60 % of it);
- SMS: the file provider (`SMS_PROVIDER=file`); the floor writes the same texts to files as it does;
- letters: WeasyPrint PDF and the letter store; the floor is WeasyPrint alone on one fixed
  letter's HTML, stored the same way.

Prints each round with the load average (the machine may be shared), for email the CPU time per
message of the worker's process and of the server's in both parts, and the medians.
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


CONTACTS = {
    # channel: (date of birth (the default policies' groups), columns that make the debtor reachable there)
    "email": (None, "email = 'd' || external_ref || '@example.de', consent_email = true"),
    "sms": (date(2000, 3, 3), "phone = '+49170' || (1000000 + id), consent_sms = true"),
    "letter": (date(1940, 2, 2), "street = 'Hauptstraße 5', postal_code = '70173', city = 'Stuttgart', country = 'DE'"),
}


def build(n: int, channel: str = "email") -> int:
    """N debtors with one overdue invoice each, reachable on `channel` only; one real dunning run queues N reminders."""
    from portal.dunning.run import run
    from portal.extensions import db
    from portal.models import Merchant

    merchant = Merchant(slug="bench", name="Gartenhaus Bench", legal_name="Gartenhaus Bench GmbH", iban="DE89370400440532013000",
                        support_email="hilfe@bench.example", street="Gartenweg 1", postal_code="70173", city="Stuttgart")
    db.session.add(merchant)
    db.session.commit()
    conn = db.session.connection()
    born, contact = CONTACTS[channel]
    conn.execute(text(
        "INSERT INTO debtor (merchant_id, external_ref, kind, name, date_of_birth, language, consent_email, consent_sms,"
        " link_version, created_at, updated_at) VALUES (:m, :r, 'person', :name, :born, :lang, false, false, 1,"
        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
        [{"m": merchant.id, "r": f"D{i}", "name": f"Erika Muster {i}", "born": born, "lang": "en" if i % 5 == 4 else "de"}
         for i in range(n)])
    conn.execute(text(f"UPDATE debtor SET {contact} WHERE merchant_id = :m"), {"m": merchant.id})
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
    from portal.models import Message

    channels = {m.channel for m in db.session.query(Message)}
    assert channels == {channel}, channels
    return merchant.id


def fresh_database() -> None:
    from portal.extensions import db

    db.session.remove()
    db.drop_all()
    db.create_all()


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), to show where a round's CPU went."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drain_timed(profile: int = 0):
    from portal.messaging import worker

    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    now = datetime.now(timezone.utc) + timedelta(seconds=1)
    t0 = time.perf_counter()
    result = worker.drain(now=now)
    seconds = time.perf_counter() - t0
    if profiler:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(profile)
        if os.environ.get("BENCH_PROFILE_OUT"):
            profiler.dump_stats(os.environ["BENCH_PROFILE_OUT"])
        pstats.Stats(profiler).sort_stats("tottime").print_stats(profile)
    return result, seconds


def email_round(n: int, port: int, spool: str, count, profile: int, server_pid: int) -> tuple[float, float]:
    """(a) the worker, (b) plain smtplib with the very same bytes; returns both rates. Also prints the CPU
    time per email of the worker's process and of the server's, in both parts."""
    fresh_database()
    if os.path.exists(spool):
        os.unlink(spool)
    count.value = 0
    build(n, "email")
    cpu0, server0 = time.process_time(), cpu_seconds(server_pid)
    result, worker_s = drain_timed(profile)
    cpu1, server1 = time.process_time(), cpu_seconds(server_pid)
    assert result.sent == n and count.value == n, (result, count.value)
    sent = received(spool)
    size = sum(len(raw) for _, _, raw in sent) / len(sent)
    t0 = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for mail_from, rcpt_tos, raw in sent:
            smtp.sendmail(mail_from, rcpt_tos, raw)
    base_s = time.perf_counter() - t0
    cpu2, server2 = time.process_time(), cpu_seconds(server_pid)
    assert count.value == 2 * n
    print(f"  email: worker {n / worker_s:,.0f}/s ({worker_s:.2f} s), smtplib same bytes {n / base_s:,.0f}/s "
          f"({base_s:.2f} s), {base_s / worker_s:.0%}; mean size {size / 1024:.1f} KiB; {load()}", flush=True)
    print(f"    CPU per email: worker process {(cpu1 - cpu0) / n * 1000:.2f} ms, server {(server1 - server0) / n * 1000:.2f} ms; "
          f"smtplib loop {(cpu2 - cpu1) / n * 1000:.2f} ms, server {(server2 - server1) / n * 1000:.2f} ms", flush=True)
    return n / worker_s, n / base_s


def sms_round(n: int, folder: Path) -> tuple[float, float]:
    """(a) the worker with the file provider (render, GSM-7 check, one file per SMS, marks, records), (b) the floor:
    the same texts written to files the way the provider writes them."""
    import shutil
    import uuid

    fresh_database()
    shutil.rmtree(folder, ignore_errors=True)
    build(n, "sms")
    result, worker_s = drain_timed()
    assert result.sent == n, result
    texts = [p.read_text(encoding="utf-8") for p in sorted((folder / "worker").iterdir())]
    assert len(texts) == n
    t0 = time.perf_counter()
    floor = folder / "floor"
    for body in texts:
        floor.mkdir(parents=True, exist_ok=True)
        (floor / f"file-{uuid.uuid4().hex[:16]}.txt").write_text(body, encoding="utf-8")
    floor_s = time.perf_counter() - t0
    print(f"  sms: worker {n / worker_s:,.0f}/s ({worker_s:.2f} s), writing the same texts {n / floor_s:,.0f}/s "
          f"({floor_s:.3f} s), {floor_s / worker_s:.0%}; {load()}", flush=True)
    return n / worker_s, n / floor_s


def letter_round(n: int, storage: Path) -> tuple[float, float]:
    """(a) the worker on letters (render the DIN 5008 HTML, WeasyPrint PDF, store, records), (b) the floor:
    WeasyPrint alone on one fixed letter's HTML, N times, stored the same way."""
    import shutil

    from portal.messaging import render
    from portal.messaging.channels import letter as letter_channel
    from portal.models import Message

    fresh_database()
    shutil.rmtree(storage, ignore_errors=True)
    build(n, "letter")
    html = render.render_letter_html(Message.query.first())
    result, worker_s = drain_timed()
    assert result.sent == n, result
    t0 = time.perf_counter()
    for i in range(n):
        path = storage / "floor" / f"{i}.pdf"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(letter_channel.pdf_from_html(html))
    floor_s = time.perf_counter() - t0
    print(f"  letter: worker {n / worker_s:,.1f}/s ({worker_s:.2f} s), WeasyPrint alone on a fixed letter "
          f"{n / floor_s:,.1f}/s ({floor_s:.2f} s), {floor_s / worker_s:.0%}; {load()}", flush=True)
    return n / worker_s, n / floor_s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000, help="emails and SMS per round")
    parser.add_argument("--letters", type=int, default=40, help="letters per round")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--channels", default="email,sms,letter")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file under /tmp")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="print the N top cProfile entries of the worker's email path (first round); "
                             "with BENCH_PROFILE_OUT=FILE the raw statistics are written there too")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:////tmp/settle-bench-mail-{os.getpid()}.sqlite3"
    channels = args.channels.split(",")

    import multiprocessing
    import statistics
    import tempfile

    ctx = multiprocessing.get_context("fork")
    spool = f"/tmp/settle-bench-mail-{os.getpid()}.spool"
    count, ready, stop = ctx.Value("i", 0), ctx.Event(), ctx.Event()
    port = free_port()
    server = ctx.Process(target=serve, args=(port, spool, count, ready, stop), daemon=True)
    server.start()
    ready.wait(10)
    from portal import create_app

    work = Path(tempfile.mkdtemp(prefix="settle-bench-send-"))
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port,
                      "MAIL_DEFAULT_SENDER": "mahnung@bench.example", "MAIL_SUPPRESS_SEND": False,
                      "SMS_PROVIDER": "file", "SMS_FILE_DIR": str(work / "sms" / "worker"),
                      "STORAGE_DIR": str(work / "storage")})
    print(f"{os.cpu_count()} CPUs, {url.split('://')[0]}, {load()}", flush=True)
    rounds: dict[str, list] = {c: [] for c in channels}
    try:
        with app.app_context(), app.test_request_context():
            for i in range(args.repeat):
                print(f"round {i + 1}:", flush=True)
                if "email" in channels:
                    rounds["email"].append(email_round(args.messages, port, spool, count, args.profile if i == 0 else 0,
                                                                  server.pid))
                if "sms" in channels:
                    rounds["sms"].append(sms_round(args.messages, work / "sms"))
                if "letter" in channels:
                    rounds["letter"].append(letter_round(args.letters, work / "storage"))
        print(f"medians of {args.repeat} rounds ({load()}):")
        names = {"email": "plain smtplib, same bytes", "sms": "writing the same texts to files",
                 "letter": "WeasyPrint alone, fixed letter"}
        for channel, results in rounds.items():
            worker_rate = statistics.median(r[0] for r in results)
            floor_rate = statistics.median(r[1] for r in results)
            ratio = statistics.median(r[0] / r[1] for r in results)
            target = " (target >= 60 %)" if channel == "email" else ""
            print(f"  {channel}: worker {worker_rate:,.1f}/s, {names[channel]} {floor_rate:,.1f}/s, "
                  f"worker / floor {ratio:.0%}{target}")
    finally:
        stop.set()
        server.join(10)
        if os.path.exists(spool):
            os.unlink(spool)
        import shutil

        shutil.rmtree(work, ignore_errors=True)
        if url.startswith("sqlite:////tmp/settle-bench"):
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(url.removeprefix("sqlite:///") + suffix):
                    os.unlink(url.removeprefix("sqlite:///") + suffix)


if __name__ == "__main__":
    main()
