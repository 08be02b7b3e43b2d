"""When a transaction on SQLite takes the database's write lock: at its start when it is going to write.

SQLite has one writer at a time. A transaction that begins DEFERRED, reads, and only then writes
cannot wait for the lock: if another connection committed after its first read, its snapshot is
stale and SQLite answers "database is locked" at once, whatever the busy timeout (20 concurrent
payments lost a third of theirs that way). Taking the lock for every transaction (BEGIN IMMEDIATE
always) fixes that but makes readers queue behind writers and wait for each other: a read held open
(a page being rendered, the simulator's caller, a test that reads while another process writes)
then blocks every writer, and the simulator's sandbox waited for its own caller.

So on SQLite (PostgreSQL, the production database, is untouched: every hook returns at once for
any other dialect):

1. **Reads take no lock.** pysqlite runs statements before a transaction's first write outside any
   SQLite transaction; each read sees the last commit, and a read left open blocks nobody.
2. **Work that reads and then writes on what it read declares it up front**: inside `writes()` (a
   context manager and a decorator) every transaction the session begins starts with BEGIN
   IMMEDIATE, before its first read: it waits (busy_timeout) for the writer before it, then reads
   what that one committed, and nobody commits in between. Declared:
   - every web request with an unsafe method (POST, PUT, PATCH, DELETE): portal payment and form
     posts, the shop API's writes, Stripe webhooks, uploads and every back-office form (`init_app`);
   - the dunning run (`portal.dunning.run.run`, from the CLI, the worker and tests alike): two
     overlapping runs take turns per batch, and the second finds each invoice already moved on;
   - bank statement and invoice imports (`portal.payments.reconcile.import_statements`,
     `portal.intake.csv_import.import_csv`, `portal.intake.einvoice_batch.import_files`: CLI and upload jobs) and
     every upload job the worker imports (`portal.uploads.jobs.process`: invoices, statements, e-invoices).
3. **Any other write takes the lock at its first INSERT, UPDATE, DELETE or SAVEPOINT** with BEGIN
   IMMEDIATE: no read has been made inside the transaction yet, so waiting for the lock is safe.
   (pysqlite would begin DEFERRED there, and not at all before a SAVEPOINT: the savepoint then
   opened a deferred transaction of its own, whose reads made the following write fail at once,
   and whose RELEASE committed everything before the caller did.) The worker's claims are single
   UPDATE statements of this kind, so it never holds the lock while it talks to a mail server.

Leaving a `writes()` scope (and ending a request) gives the lock back at once if the transaction
that took it at its start has written nothing since: a request's page rendered after its commit, or
a test reading between two runs, then blocks no other connection.
"""
from __future__ import annotations

import re
import sqlite3
from contextlib import contextmanager
from functools import wraps

from flask import Flask, g, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

_INTENT = "settle.writes"  # session.info: how many writes() scopes are open on this session
_LOCKED = "settle.locked_at_begin"  # session.info: (dbapi connection, its total_changes when BEGIN IMMEDIATE took the lock)
_WRITE_STATEMENT = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE|SAVEPOINT)\b", re.IGNORECASE)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _sqlite_dbapi(connection):
    """The pysqlite connection under a SQLAlchemy Connection, or None for any other database."""
    if connection.dialect.name != "sqlite" or connection.dialect.driver != "pysqlite":
        return None
    return connection.connection.dbapi_connection


@event.listens_for(Engine, "before_cursor_execute")
def _begin_immediate_before_first_write(conn, cursor, statement, parameters, context, executemany):
    """Rule 3: a write outside a transaction begins one that holds the lock (not pysqlite's deferred one)."""
    dbapi = _sqlite_dbapi(conn)
    if dbapi is not None and not dbapi.in_transaction and _WRITE_STATEMENT.match(statement):
        dbapi.execute("BEGIN IMMEDIATE")


@event.listens_for(Session, "after_begin")
def _begin_immediate_when_declared(session, transaction, connection):
    """Rule 2: a transaction of a session inside `writes()` takes the lock before its first read."""
    if session.info.get(_INTENT):
        _take_lock(session, connection)


def _take_lock(session: Session, connection) -> None:
    dbapi = _sqlite_dbapi(connection)
    if dbapi is not None and not dbapi.in_transaction:
        try:
            dbapi.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:  # busy_timeout ran out: the error SQLAlchemy raises elsewhere
            raise OperationalError("BEGIN IMMEDIATE", (), error) from error
        session.info[_LOCKED] = (dbapi, dbapi.total_changes)


@event.listens_for(Session, "after_transaction_end")
def _forget_lock(session, transaction):
    if transaction.parent is None:
        session.info.pop(_LOCKED, None)


def _session() -> Session:
    from portal.extensions import db

    return db.session()


def declare(session: Session | None = None) -> None:
    """Open a `writes()` scope without a `with` (a request's); `release` closes it."""
    session = session or _session()
    session.info[_INTENT] = session.info.get(_INTENT, 0) + 1
    # A transaction already open (reads so far ran outside SQLite's own) takes the lock now.
    if session.get_transaction() is not None:
        _take_lock(session, session.connection())


def release(session: Session | None = None) -> None:
    """Close a scope; give the lock back if the transaction that took it at its start wrote nothing."""
    session = session or _session()
    depth = session.info.get(_INTENT, 0) - 1
    if depth > 0:
        session.info[_INTENT] = depth
        return
    session.info.pop(_INTENT, None)
    locked = session.info.get(_LOCKED)
    if locked is not None:
        dbapi, changes = locked
        if dbapi.in_transaction and dbapi.total_changes == changes and session.get_nested_transaction() is None:
            # Nothing written: ending SQLite's transaction loses nothing. The session's own transaction
            # goes on as reads outside one (rule 1), and begins again at its next write (rule 3).
            dbapi.rollback()
        session.info.pop(_LOCKED, None)


@contextmanager
def writes(session: Session | None = None):
    """Declare that the transactions begun inside read what they are about to write (see the module)."""
    session = session or _session()
    declare(session)
    try:
        yield session
    finally:
        release(session)


def writing(func):
    """Decorator form of `writes()` for the current `db.session`."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        with writes():
            return func(*args, **kwargs)

    return wrapper


def init_app(app: Flask) -> None:
    """Every request with an unsafe method declares that it writes, for as long as it runs."""

    @app.before_request
    def _declare_writes():
        if request.method not in SAFE_METHODS:
            declare()
            g.settle_declared_writes = True

    @app.teardown_request
    def _release_writes(exc):
        if g.pop("settle_declared_writes", False):
            release()


@contextmanager
def roomy_sqlite_cache(kib: int = 64 * 1024):
    """A larger page cache for this connection during a bulk import (SQLite's default is 2 MiB).

    Every row an import writes changes several indexes at random places; with 2 MiB of cache most
    of those pages are read again from the file for each batch.

    Only memory changes: durability and locking are untouched, and the old size is restored.
    """
    from portal.extensions import db

    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")
