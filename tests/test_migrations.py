"""The Alembic migrations build exactly the schema the models describe, on SQLite and on PostgreSQL.

The suite itself builds its schema with create_all(); this test is what keeps the
migrations that `make run` and production use in step with the models.
"""
from __future__ import annotations

import uuid
from contextlib import contextmanager

import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Constraint, Index, Table, inspect
from sqlalchemy.engine import make_url

from portal import create_app
from portal.extensions import db
from portal.models.types import include_object
from tests.conftest import TEST_DATABASE_URL, is_postgres
from tests.conftest import test_settings as settings_for


@contextmanager
def fresh_postgres_database():
    """A throw-away database on the test PostgreSQL server, dropped afterwards."""
    import psycopg

    server = make_url(TEST_DATABASE_URL)
    name = f"settle_migrations_{uuid.uuid4().hex[:12]}"
    admin = server.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_database(kind: str, tmp_path):
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
    else:
        with fresh_postgres_database() as url:
            yield url


def describe(diff) -> str:
    """One readable line per difference (alembic's tuples print whole Table objects)."""
    if isinstance(diff, list):  # column modifications come grouped
        return "; ".join(describe(d) for d in diff)
    op, *args = diff
    words = []
    for arg in args:
        if isinstance(arg, Table):
            words.append(f"table {arg.name}")
        elif isinstance(arg, Column):
            words.append(f"column {arg.table.name}.{arg.name}" if arg.table is not None else f"column {arg.name}")
        elif isinstance(arg, (Index, Constraint)):
            table = getattr(arg, "table", None)
            words.append(f"{type(arg).__name__} {arg.name} on {table.name if table is not None else '?'}")
        elif arg is not None and arg != {}:
            words.append(repr(arg)[:80])
    return f"{op}: {', '.join(words)}"


def differences(url: str) -> list:
    app = create_app(settings_for(url))
    with app.app_context():
        try:
            flask_migrate.upgrade()
            with db.engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={
                    "compare_type": True, "include_object": include_object(connection.dialect.name)})
                diffs = compare_metadata(context, db.metadata)
                tables = set(inspect(connection).get_table_names())
        finally:
            db.session.remove()
            db.engine.dispose()
    assert "alembic_version" in tables
    return diffs


@pytest.mark.parametrize(
    "kind",
    [
        "sqlite",
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(not is_postgres(), reason="SETTLE_TEST_DATABASE_URL is not a PostgreSQL database"),
        ),
    ],
)
def test_migrations_on_an_empty_database_match_the_models(kind, tmp_path):
    with fresh_database(kind, tmp_path) as url:
        diffs = differences(url)
    assert not diffs, (
        f"The migrations do not build the schema the models describe on {kind} "
        f"(regenerate with `flask db migrate`); differences:\n" + "\n".join(describe(d) for d in diffs)
    )
