"""Column types and helpers shared by the models."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, BigInteger, DateTime, Integer
from sqlalchemy.dialects.postgresql import JSONB

# JSON everywhere, JSONB on PostgreSQL (indexable, compact).
JSONType = JSON().with_variant(JSONB(), "postgresql")
UTCDateTime = DateTime(timezone=True)
# Money in minor units (and other counts that may outgrow 32 bits): BIGINT on PostgreSQL.
# SQLite's INTEGER already stores 64-bit values, so the column stays INTEGER there and the
# migration does not have to rebuild tables that other tables refer to.
MinorUnits = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def trigram_index(name: str, column: str):
    """A GIN trigram index (pg_trgm) for `ILIKE '%…%'` on PostgreSQL only; SQLite gets none (it would not use it).

    The extension is created with the schema (see `portal.models.ensure_pg_trgm` and migration analytics_02); since
    PostgreSQL 13 it is a trusted extension that the database's owner may create without superuser rights."""
    from sqlalchemy import Index

    return Index(name, column, postgresql_using="gin", postgresql_ops={column: "gin_trgm_ops"}).ddl_if(dialect="postgresql")


def include_object(connection_dialect: str):
    """Alembic `include_object` hook: leave out schema objects that are created for another database only
    (`ddl_if(dialect=…)`, e.g. the trigram indexes on PostgreSQL), so autogenerate on SQLite does not ask for them."""
    def include(obj, name, type_, reflected, compare_to):
        condition = getattr(obj, "_ddl_if", None)
        return condition is None or condition.dialect in (None, connection_dialect)
    return include
