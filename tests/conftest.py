"""Shared fixtures: an app on a fresh database per test (SQLite, or PostgreSQL when
SETTLE_TEST_DATABASE_URL points at one), a client and a CLI runner."""
from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from flask.testing import FlaskClient

from portal import create_app
from portal.extensions import db
from tests.chromium import browser  # noqa: F401  (the Chromium fixture for browser tests)

TEST_DATABASE_URL = os.environ.get("SETTLE_TEST_DATABASE_URL")


def is_postgres() -> bool:
    return bool(TEST_DATABASE_URL and TEST_DATABASE_URL.startswith("postgresql"))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    if TEST_DATABASE_URL:
        return TEST_DATABASE_URL
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


@pytest.fixture(scope="session")
def _schema(database_url):
    app = create_app(test_settings(database_url))
    with app.app_context():
        db.drop_all()
        db.create_all()
        db.engine.dispose()
    return True


def _wipe() -> None:
    tables = list(reversed(db.metadata.sorted_tables))
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(table.delete())
    db.session.commit()


def test_settings(database_url: str, **extra) -> dict:
    from config import TestConfig

    settings = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    settings.update(SQLALCHEMY_DATABASE_URI=database_url, **extra)
    return settings


class FreshGClient(FlaskClient):
    """A test client whose requests do not share `g`.

    Tests keep an app context open (for db.session), and Flask reuses it for requests,
    so without this, `g` (CSRF token cache, current merchant, locale) would leak from
    one request into the next, which never happens in production.
    """

    def open(self, *args, **kwargs):
        from flask import g

        g.__dict__.clear()
        try:
            return super().open(*args, **kwargs)
        finally:
            g.__dict__.clear()


@pytest.fixture
def app(database_url, _schema, tmp_path):
    app = create_app(test_settings(database_url, STORAGE_DIR=str(tmp_path / "storage")))
    app.test_client_class = FreshGClient
    with app.app_context():
        yield app
        db.session.rollback()
        _wipe()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def make_app(database_url, _schema):
    """Further app instances with their own settings. Their engines are disposed afterwards: a pooled
    connection left for the garbage collector is a ResourceWarning (an error here) in whichever later
    test the collector happens to run."""
    made = []

    def make(**extra):
        made.append(create_app(test_settings(database_url, **extra)))
        return made[-1]

    yield make
    for other in made:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
