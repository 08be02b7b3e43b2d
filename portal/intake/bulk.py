"""Multi-row inserts for bulk intake: one `executemany` per batch, inside the caller's transaction.

SQLAlchemy's Core `execute(insert(table), [dicts])` builds and converts a parameter
dictionary per row, which costs more than the database's own work when a file has
100,000 lines. Here the statement is compiled once for the session's dialect, every
column's bind processor (dates on SQLite, JSON everywhere) is looked up once, and the
driver gets plain tuples (or dicts for drivers with named parameters). The stored
values are exactly what the ORM would write, since the same processors convert them.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from sqlalchemy import JSON, Date, DateTime, Table, insert

from portal.extensions import db


class JSONText(str):
    """Text that is already JSON (for hot loops that can write it faster than json.dumps).

    SQLite stores JSON as text, so it goes in as it is; other databases get it through the
    column's own conversion after parsing, so every database stores the same value.
    """


def _accepting_json_text(proc, stores_text: bool):
    if stores_text:
        return lambda value: value if type(value) is JSONText else proc(value)
    return lambda value: proc(json.loads(value)) if type(value) is JSONText else proc(value)


def _memoized(proc):
    cache: dict = {}

    def convert(value):
        try:
            return cache[value]
        except KeyError:
            cache[value] = converted = proc(value)
            return converted

    return convert


class BulkInsert:
    """`BulkInsert(table, columns).run(rows)` inserts rows given as tuples in `columns` order."""

    def __init__(self, table: Table, columns: Sequence[str]):
        self.connection = db.session.connection()
        dialect = self.connection.dialect
        compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
        names = list(compiled.positiontup) if compiled.positional else list(compiled.binds)
        if sorted(names) != sorted(columns):
            # A column with a Python-side default that the caller did not fill: refuse rather than store NULL.
            missing = sorted(set(names) - set(columns))
            raise ValueError(f"bulk insert into {table.name} must supply {missing}")
        self.sql = str(compiled)
        self.positional = compiled.positional
        position = {name: i for i, name in enumerate(columns)}
        order = [position[name] for name in names] if self.positional else None
        self.order = None if order == list(range(len(columns))) else order
        self.names = list(columns)
        self.processors = []
        for i, name in enumerate(columns):
            column_type = table.c[name].type
            proc = column_type.dialect_impl(dialect).bind_processor(dialect)
            if proc is None:
                continue
            if isinstance(column_type, (Date, DateTime)):
                # Dates repeat all over a file (a few hundred distinct days): convert each once.
                proc = _memoized(proc)
            elif isinstance(column_type, JSON):
                proc = _accepting_json_text(proc, stores_text=dialect.name == "sqlite")
            self.processors.append((i, proc))

    def _convert(self, row: tuple) -> tuple | dict:
        values = list(row)
        for i, proc in self.processors:
            value = values[i]
            if value is not None:  # None stays SQL NULL (JSON would write 'null')
                values[i] = proc(value)
        if self.order is not None:
            values = [values[i] for i in self.order]
        return tuple(values) if self.positional else dict(zip(self.names, values))

    def run(self, rows: Iterable[tuple]) -> None:
        params = [self._convert(row) for row in rows]
        if params:
            self.connection.exec_driver_sql(self.sql, params)
