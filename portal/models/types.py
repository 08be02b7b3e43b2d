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
