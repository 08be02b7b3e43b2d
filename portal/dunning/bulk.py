"""Bulk writes for the dunning run (ledger entries, messages, links, events, invoice updates).

SQLite: Core executemany (the driver loops in C). PostgreSQL: one statement per table and
batch whose rows travel as one JSON document, `INSERT … SELECT … FROM
json_to_recordset(:rows)` and `UPDATE … FROM json_to_recordset(:rows)`: one parse, one plan,
one round trip for hundreds of rows, where executemany sends a statement per row, a
multi-row VALUES list costs psycopg a regex pass over thousands of placeholders, and
arrays of text cost it an escaping pass per element. Column defaults and `onupdate` values
are applied here as SQLAlchemy would. Nothing here commits.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date

from sqlalchemy import JSON, Integer, Table, any_, bindparam, func, insert, select, text, true, update
from sqlalchemy.dialects.postgresql import ARRAY

from portal.extensions import db


def _postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def among(column, ids: Sequence):
    """`column IN (ids)`; on PostgreSQL `column = ANY(:ids)`, one array parameter instead of hundreds (each of which
    SQLAlchemy and the driver handle one by one, and PostgreSQL parses as a list of constants)."""
    if _postgres():
        element = Integer() if isinstance(column.type, Integer) else column.type
        return column == any_(bindparam(None, list(ids), type_=ARRAY(element)))
    return column.in_(list(ids))


def probe(key, values: Sequence, columns: Sequence, *where, size: int = 1000) -> list:
    """Rows (value, *columns) of `key`'s table where `key` is one of `values` and `where` holds: the
    batch joined against the table, one index probe per value.

    `key` with the equalities in `where` must be a unique index (e.g. `(merchant_id, key)`). On
    PostgreSQL the values travel as one array, `unnest(:values)`, joined LATERAL to the table behind
    an `OFFSET 0` fence: the subquery cannot be flattened into a hash join, and an equality on every
    column of a unique index is one row whatever the statistics say. A plain `IN`/`= ANY` or join
    leaves the choice to the statistics, and those of a table filled in the same transaction (a large
    import into fresh tables) are an empty table's: the planner then reads all the tenant's rows for
    every batch, which grows with the square of the import. SQLite: `IN (…)` per `size` values (its
    planner probes a unique index for each one)."""
    values = list(values)
    if not values:
        return []
    if _postgres():
        element = Integer() if isinstance(key.type, Integer) else key.type
        batch = func.unnest(bindparam(None, values, type_=ARRAY(element))).table_valued("value").render_derived(name="batch")
        found = select(*columns).where(key == batch.c.value, *where).offset(0).lateral("found")
        stmt = select(batch.c.value, *found.c).select_from(batch).join(found, true())
        return list(db.session.execute(stmt))
    out = []
    for start in range(0, len(values), size):
        out.extend(db.session.execute(select(key, *columns).where(key.in_(values[start : start + size]), *where)))
    return out


def _is_json(column) -> bool:
    return isinstance(column.type, JSON)


def _sql_type(column) -> str:
    return "JSONB" if _is_json(column) else column.type.compile(dialect=db.engine.dialect)


def _q(name: str) -> str:
    return db.engine.dialect.identifier_preparer.quote(name)


def _iso(value):
    if isinstance(value, date):  # and datetime: ISO 8601, with the offset for aware times
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _recordset(table: Table, keys: list[str], rows: Sequence[dict]) -> tuple[str, dict]:
    """`json_to_recordset(:rows) AS u(col type, …)` and its one parameter."""
    columns = ", ".join(f"{_q(k)} {_sql_type(table.c[k])}" for k in keys)
    payload = json.dumps([{k: row[k] for k in keys} for row in rows], default=_iso, separators=(",", ":"))
    return f"json_to_recordset(CAST(:rows AS JSON)) AS u({columns})", {"rows": payload}


def recordset(table: Table, keys: list[str], rows: Sequence[dict]) -> tuple[str, dict]:
    """PostgreSQL: `json_to_recordset(:rows) AS u(…)` of `rows` (the values of `keys`, typed as `table`'s columns) and
    its one parameter, for a statement of the caller's own (e.g. an UPDATE … FROM it with conditions of its own)."""
    return _recordset(table, keys, rows)


def _source_value(table: Table, key: str) -> str:
    # json_to_recordset turns a JSON null into SQL NULL; SQLAlchemy's JSON type stores Python None as JSON null.
    return f"COALESCE(u.{_q(key)}, 'null'::jsonb)" if _is_json(table.c[key]) else f"u.{_q(key)}"


def _defaults(table: Table, given: set[str], *, on_update: bool) -> dict:
    """Python-side defaults (or onupdate values) for the columns a row set leaves out."""
    out = {}
    for column in table.columns:
        spec = column.onupdate if on_update else column.default
        if column.key in given or spec is None or not getattr(spec, "is_scalar", False) and not getattr(spec, "is_callable", False):
            continue
        out[column.key] = spec
    return out


def _value(spec):
    return spec.arg(None) if spec.is_callable else spec.arg


def insert_rows(table: Table, rows: Sequence[dict], *, returning: Sequence[str] = ()) -> list:
    """Insert `rows` (dicts with the same keys); returns the `returning` columns of the new rows, in no set order."""
    if not rows:
        return []
    if not _postgres():  # Core applies the column defaults
        stmt = insert(table)
        if returning:
            stmt = stmt.returning(*(table.c[c] for c in returning))
            return list(db.session.execute(stmt, rows))
        db.session.execute(stmt, rows)
        return []
    keys = list(rows[0])
    defaults = _defaults(table, set(keys), on_update=False)
    if defaults:
        rows = [{**row, **{k: _value(spec) for k, spec in defaults.items()}} for row in rows]
        keys += list(defaults)
    source, params = _recordset(table, keys, rows)
    names = ", ".join(_q(k) for k in keys)
    sql = f"INSERT INTO {_q(table.name)} ({names}) SELECT {', '.join(_source_value(table, k) for k in keys)} FROM {source}"
    if returning:
        sql += " RETURNING " + ", ".join(map(_q, returning))
    result = db.session.execute(text(sql), params)
    return list(result) if returning else []


def update_rows(table: Table, rows: Sequence[dict], *, key: str = "id", add: Sequence[str] = ()) -> None:
    """Set the given columns on the rows identified by `key`; columns in `add` are increased by the value instead."""
    if not rows:
        return
    keys = [k for k in rows[0] if k != key]
    if not _postgres():  # Core applies the onupdate values
        values = {k: (table.c[k] + bindparam(f"b_{k}")) if k in add else bindparam(f"b_{k}") for k in keys}
        stmt = update(table).where(table.c[key] == bindparam(f"b_{key}")).values(values)
        db.session.execute(stmt, [{f"b_{k}": v for k, v in row.items()} for row in rows])
        return
    defaults = _defaults(table, set(keys) | {key}, on_update=True)
    if defaults:
        rows = [{**row, **{k: _value(spec) for k, spec in defaults.items()}} for row in rows]
        keys += list(defaults)
    source, params = _recordset(table, [key, *keys], rows)
    name = _q(table.name)
    sets = ", ".join(f"{_q(k)} = {name}.{_q(k)} + u.{_q(k)}" if k in add else f"{_q(k)} = {_source_value(table, k)}" for k in keys)
    db.session.execute(text(f"UPDATE {name} SET {sets} FROM {source} WHERE {name}.{_q(key)} = u.{_q(key)}"), params)
