"""The one place where an invoice's balance and status change.

Every booking (payment, credit, fee, interest, refund …) goes through `book`, which
writes the ledger entry, moves the cached open balance, applies the status transition
and records the event, all in the caller's transaction. A booking that already exists
(same source and external reference) is returned unchanged: repeats are no-ops.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select, text, update

from portal.extensions import db
from portal.models import Event, Invoice, InvoiceStatus, LedgerEntry
from portal.models.invoice import NEGATIVE_KINDS, POSITIVE_KINDS


class LedgerError(Exception):
    """A booking that must not happen."""


class BookingConflict(LedgerError):
    """The external reference was already booked with other content."""


class InvoiceClosed(LedgerError):
    """The invoice's state does not allow this change."""


@dataclass(frozen=True)
class Booking:
    entry: LedgerEntry
    created: bool


def lock(invoice_id: int) -> Invoice:
    """The invoice, locked for update (PostgreSQL row lock; SQLite serialises writers anyway)."""
    stmt = select(Invoice).where(Invoice.id == invoice_id).with_for_update()
    invoice = db.session.execute(stmt).scalar_one()
    db.session.refresh(invoice)
    return invoice


def book(
    invoice: Invoice,
    *,
    kind: str,
    amount_minor: int,
    source: str,
    external_ref: str,
    booked_on: date,
    actor: str,
    memo: str | None = None,
    data: dict | None = None,
) -> Booking:
    """Book one entry; `amount_minor` is the magnitude, the kind gives the sign."""
    if amount_minor <= 0 and kind != "adjustment":
        raise LedgerError("amount must be positive; the kind decides the sign")
    signed = -amount_minor if kind in NEGATIVE_KINDS else amount_minor
    if kind not in NEGATIVE_KINDS and kind not in POSITIVE_KINDS and kind != "adjustment":
        raise LedgerError(f"unknown ledger kind {kind!r}")

    existing = db.session.execute(
        select(LedgerEntry).where(
            LedgerEntry.merchant_id == invoice.merchant_id,
            LedgerEntry.source == source,
            LedgerEntry.external_ref == external_ref,
        )
    ).scalar_one_or_none()
    if existing is not None:
        if existing.invoice_id == invoice.id and existing.kind == kind and existing.amount_minor == signed:
            return Booking(existing, False)
        raise BookingConflict(f"{source} reference {external_ref!r} is already booked differently")

    invoice = lock(invoice.id)
    entry = LedgerEntry(
        merchant_id=invoice.merchant_id,
        invoice_id=invoice.id,
        kind=kind,
        amount_minor=signed,
        currency=invoice.currency,
        source=source,
        external_ref=external_ref,
        booked_on=booked_on,
        memo=memo,
        data=data,
    )
    db.session.add(entry)
    # Atomic increment: concurrent bookings on PostgreSQL never lose an update.
    # synchronize_session=False: the refresh below reloads the row; the default "evaluate" would scan
    # every Invoice in the session on each booking (quadratic in a 100,000-entry bank import).
    db.session.execute(
        update(Invoice).where(Invoice.id == invoice.id).values(open_minor=Invoice.open_minor + signed),
        execution_options={"synchronize_session": False},
    )
    db.session.flush()
    db.session.refresh(invoice)
    before = invoice.status
    _settle_status(invoice, booked_on)
    db.session.add(
        Event.on_invoice(invoice, f"ledger.{kind}", actor, {
            "amount_minor": signed,
            "currency": invoice.currency,
            "source": source,
            "external_ref": external_ref,
            "open_minor": invoice.open_minor,
            "status": invoice.status,
            **({"status_before": before} if before != invoice.status else {}),
        })
    )
    if kind == "payment" and invoice.status == InvoiceStatus.HANDED_OVER.value:
        from portal.dunning import handover  # a payment after handover: staff tell the agency

        db.session.add(Event(**handover.payment_after_handover(
            merchant_id=invoice.merchant_id, invoice_id=invoice.id, debtor_id=invoice.debtor_id, number=invoice.number,
            amount_minor=amount_minor, currency=invoice.currency, source=source, external_ref=external_ref,
            booked_on=booked_on, actor=actor)))
    return Booking(entry, True)


def _settle_status(invoice: Invoice, on: date) -> None:
    """Paid when nothing is open any more; reopened when a refund or chargeback makes it owe again."""
    if invoice.status == InvoiceStatus.OPEN.value and invoice.open_minor <= 0:
        invoice.status = InvoiceStatus.PAID.value
        invoice.closed_on = on
        invoice.next_action_on = None
        from portal.dunning import escalation  # escalation reacts to the balance; imported late (it imports models)

        escalation.stopped(invoice, on)
    elif invoice.status == InvoiceStatus.PAID.value and invoice.open_minor > 0:
        invoice.status = InvoiceStatus.OPEN.value
        invoice.closed_on = None
        from portal.dunning import escalation

        escalation.reopened(invoice, on)


def cancel(invoice: Invoice, *, on: date, actor: str, reason: str | None = None) -> bool:
    """Cancel an invoice: the open principal is credited, escalation stops for good.

    Returns False when it was already cancelled (a repeat is a no-op).
    """
    if invoice.status == InvoiceStatus.CANCELLED.value:
        return False
    if invoice.status != InvoiceStatus.OPEN.value:
        raise InvoiceClosed(f"a {invoice.status.replace('_', ' ')} invoice cannot be cancelled")
    invoice = lock(invoice.id)
    if invoice.open_minor > 0:
        book(
            invoice,
            kind="credit",
            amount_minor=invoice.open_minor,
            source="staff" if actor.startswith("user:") else "api",
            external_ref=f"cancel:{invoice.id}",
            booked_on=on,
            actor=actor,
            memo=reason or "Invoice cancelled",
        )
    # The credit may just have marked it paid; cancellation is the truer state.
    invoice.status = InvoiceStatus.CANCELLED.value
    invoice.closed_on = on
    invoice.next_action_on = None
    from portal.dunning import escalation

    escalation.stopped(invoice, on)
    db.session.add(Event.on_invoice(invoice, "invoice.cancelled", actor, {"reason": reason} if reason else None))
    return True


def write_off(invoice: Invoice, *, on: date, actor: str, reason: str | None = None) -> bool:
    """Write off what is still open: a write-off entry for the remainder, escalation stops for good.

    Returns False when it was already written off (a repeat is a no-op).
    """
    if invoice.status == InvoiceStatus.WRITTEN_OFF.value:
        return False
    if invoice.status != InvoiceStatus.OPEN.value:
        raise InvoiceClosed(f"a {invoice.status.replace('_', ' ')} invoice cannot be written off")
    invoice = lock(invoice.id)
    if invoice.open_minor <= 0:
        raise InvoiceClosed("nothing is open on this invoice")
    book(
        invoice,
        kind="write_off",
        amount_minor=invoice.open_minor,
        source="staff" if actor.startswith("user:") else "api",
        external_ref=f"write_off:{invoice.id}",
        booked_on=on,
        actor=actor,
        memo=reason or "Remainder written off",
    )
    invoice.status = InvoiceStatus.WRITTEN_OFF.value  # the booking marked it paid; written off is the truer state
    invoice.closed_on = on
    invoice.next_action_on = None
    from portal.dunning import escalation

    escalation.stopped(invoice, on)
    db.session.add(Event.on_invoice(invoice, "invoice.written_off", actor, {"reason": reason} if reason else None))
    return True


def charges(invoice: Invoice) -> dict[str, int]:
    """Sum of entries per kind (minor units, signed), for itemised display."""
    totals: dict[str, int] = {}
    for entry in invoice.entries:
        totals[entry.kind] = totals.get(entry.kind, 0) + entry.amount_minor
    return totals


FLAT_FEE = "flat_fee"  # display kind of the § 288 (5) BGB flat fee (a `fee` entry), never called a dunning fee


def is_flat_fee(kind: str, external_ref: str | None) -> bool:
    """The § 288 (5) BGB flat fee among the fee entries (its reference is `fee:<invoice>:flatfee`)."""
    return kind == "fee" and (external_ref or "").endswith(":flatfee")


def display_kind(entry: LedgerEntry) -> str:
    return FLAT_FEE if is_flat_fee(entry.kind, entry.external_ref) else entry.kind


def itemised(invoice: Invoice) -> dict[str, int]:
    """As `charges`, with the flat fee apart from the dunning fees (what people read)."""
    totals: dict[str, int] = {}
    for entry in invoice.entries:
        kind = display_kind(entry)
        totals[kind] = totals.get(kind, 0) + entry.amount_minor
    return totals


def book_charges(rows: list[dict], *, actor: str) -> None:
    """Book many dunning charges (fees, interest) at once: the dunning run's bulk path.

    Each row: merchant_id, invoice_id, debtor_id, kind ("fee" or "interest"), amount_minor
    (positive), currency, external_ref, booked_on, memo, data. Charges only ever raise an
    open balance, so no status changes here; the caller holds the invoices (row locks on
    PostgreSQL) and commits. A reference booked before violates the unique constraint and
    fails the whole batch: a charge is never booked twice.
    """
    if not rows:
        return
    for row in rows:
        if row["kind"] not in ("fee", "interest") or row["amount_minor"] <= 0:
            raise LedgerError("book_charges takes positive fees and interest only")
    from portal.dunning import bulk  # bulk writes, no ORM unit of work (imported late: it imports models)

    bulk.insert_rows(
        LedgerEntry.__table__,
        [
            {
                "merchant_id": r["merchant_id"], "invoice_id": r["invoice_id"], "kind": r["kind"],
                "amount_minor": r["amount_minor"], "currency": r["currency"], "source": "dunning",
                "external_ref": r["external_ref"], "booked_on": r["booked_on"], "memo": r.get("memo"),
                "data": r.get("data"),
            }
            for r in rows
        ],
    )
    totals: dict[int, int] = {}
    for r in rows:
        totals[r["invoice_id"]] = totals.get(r["invoice_id"], 0) + r["amount_minor"]
    bulk.update_rows(Invoice.__table__, [{"id": i, "open_minor": delta} for i, delta in totals.items()], add=("open_minor",))
    bulk.insert_rows(
        Event.__table__,
        [
            {
                "merchant_id": r["merchant_id"], "invoice_id": r["invoice_id"], "debtor_id": r["debtor_id"],
                "kind": f"ledger.{r['kind']}", "actor": actor,
                "data": {"amount_minor": r["amount_minor"], "currency": r["currency"], "source": "dunning",
                         "external_ref": r["external_ref"],
                         **({"label": r["data"]["label"]} if (r.get("data") or {}).get("label") else {})},
            }
            for r in rows
        ],
    )


# --- bulk bookings (bank statement imports) ----------------------------------------------------


@dataclass(frozen=True)
class Held:
    """An invoice as `lock_many` read it under its row lock: what a bulk booking needs, without an ORM object."""

    id: int
    merchant_id: int
    debtor_id: int
    currency: str
    due_date: date
    open_minor: int
    status: str
    amount_minor: int  # the invoice's own amount (the plausibility limit is a share of it)


@dataclass(frozen=True)
class BulkBooking:
    """What `book_many` did with one row: `open_minor`/`status` right after it (a repeat changes nothing)."""

    invoice_id: int
    created: bool
    open_minor: int
    status: str


def lock_many(invoice_ids) -> dict[int, Held]:
    """The invoices, locked for update in id order (PostgreSQL row locks, taken in one order so batches
    never deadlock each other; SQLite serialises writers anyway)."""
    from portal.dunning import bulk  # imported late: it imports models

    ids = sorted(set(invoice_ids))
    c = Invoice.__table__.c
    size = 20_000 if db.engine.dialect.name == "postgresql" else 1000
    out: dict[int, Held] = {}
    for start in range(0, len(ids), size):
        stmt = (
            select(c.id, c.merchant_id, c.debtor_id, c.currency, c.due_date, c.open_minor, c.status, c.amount_minor)
            .where(bulk.among(c.id, ids[start : start + size])).order_by(c.id).with_for_update()
        )
        for row in db.session.execute(stmt):
            out[row[0]] = Held(*row)
    return out


def book_many(rows, *, kind: str, source: str, actor: str, held: dict[int, Held] | None = None, then=None) -> list[BulkBooking]:
    """Book many payments (credits, write-offs) at once, with exactly `book`'s outcome, set-based.

    `rows`, in booking order: dicts with invoice_id, amount_minor (the magnitude), external_ref,
    booked_on, memo, data (other keys are ignored). `held`: the invoices from `lock_many` when
    the caller locked them already (to split a payment by their balances). A reference booked
    before with the same content is a repeat (created=False, nothing written); with other
    content it raises BookingConflict, as `book` does. Invoices that become paid close and
    stop dunning (`escalation.stopped_many`: one UPDATE cancels their dead pending messages).
    `then(row, booking)` may return more event rows, written right after that booking's event.
    Balances move only by `open_minor = open_minor + delta` under the row locks; nothing commits.
    """
    from portal.dunning import bulk, escalation  # imported late: they import models
    from sqlalchemy import bindparam

    from portal.models.types import utcnow

    if kind not in NEGATIVE_KINDS:
        raise LedgerError("book_many books payments, credits and write-offs; other kinds go through book")
    if not rows:
        return []
    if any(r["amount_minor"] <= 0 for r in rows):
        raise LedgerError("amount must be positive; the kind decides the sign")
    ids = {r["invoice_id"] for r in rows}
    if held is None or not ids <= held.keys():
        held = lock_many(ids)
    refs: dict[int, set[str]] = {}
    for r in rows:
        refs.setdefault(held[r["invoice_id"]].merchant_id, set()).add(r["external_ref"])
    booked: dict[tuple[int, str], tuple[int, str, int]] = {}
    for merchant_id, wanted in refs.items():
        # Joined as a batch against the unique (merchant, source, reference) index, one probe each.
        for ref, invoice_id, entry_kind, amount in bulk.probe(
            LedgerEntry.external_ref, sorted(wanted), [LedgerEntry.invoice_id, LedgerEntry.kind, LedgerEntry.amount_minor],
            LedgerEntry.merchant_id == merchant_id, LedgerEntry.source == source, size=500,
        ):
            booked[(merchant_id, ref)] = (invoice_id, entry_kind, amount)

    # A paid invoice that still owes (it cannot come from a booking) would reopen: `book` handles that one.
    odd = {i for i in ids if held[i].status == InvoiceStatus.PAID.value and held[i].open_minor > 0}
    balance = {i: held[i].open_minor for i in ids}
    status = {i: held[i].status for i in ids}
    results: list[BulkBooking | None] = [None] * len(rows)
    entries: list[dict] = []
    ledger_events: list[tuple[int, dict, bool]] = []  # (row index, event row, this booking closed the invoice)
    delta: dict[int, int] = {}
    closed_on: dict[int, date] = {}
    stopped: list[tuple[int, int, int]] = []
    for index, r in enumerate(rows):
        invoice = held[r["invoice_id"]]
        if invoice.id in odd:
            continue
        signed = -r["amount_minor"]
        key = (invoice.merchant_id, r["external_ref"])
        if key in booked:
            if booked[key] == (invoice.id, kind, signed):
                results[index] = BulkBooking(invoice.id, False, balance[invoice.id], status[invoice.id])
                continue
            raise BookingConflict(f"{source} reference {r['external_ref']!r} is already booked differently")
        booked[key] = (invoice.id, kind, signed)
        balance[invoice.id] += signed
        delta[invoice.id] = delta.get(invoice.id, 0) + signed
        before = status[invoice.id]
        closes = before == InvoiceStatus.OPEN.value and balance[invoice.id] <= 0
        if closes:
            status[invoice.id] = InvoiceStatus.PAID.value
            closed_on[invoice.id] = r["booked_on"]
            stopped.append((invoice.id, invoice.merchant_id, invoice.debtor_id))
        entries.append({
            "merchant_id": invoice.merchant_id, "invoice_id": invoice.id, "kind": kind, "amount_minor": signed,
            "currency": invoice.currency, "source": source, "external_ref": r["external_ref"], "booked_on": r["booked_on"],
            "memo": r.get("memo"), "data": r.get("data"),
        })
        ledger_events.append((index, {
            "merchant_id": invoice.merchant_id, "invoice_id": invoice.id, "debtor_id": invoice.debtor_id,
            "kind": f"ledger.{kind}", "actor": actor,
            "data": {
                "amount_minor": signed, "currency": invoice.currency, "source": source, "external_ref": r["external_ref"],
                "open_minor": balance[invoice.id], "status": status[invoice.id],
                **({"status_before": before} if closes else {}),
            },
        }, closes))
        results[index] = BulkBooking(invoice.id, True, balance[invoice.id], status[invoice.id])

    db.session.flush()  # pending ORM changes first: the writes below bypass the unit of work
    insert_records(LedgerEntry.__table__, entries)
    table = Invoice.__table__
    now = utcnow()
    moved = [{"b_id": i, "b_delta": d} for i, d in delta.items() if i not in closed_on]
    if moved and db.engine.dialect.name == "sqlite":
        stamp = _processor(table.c.updated_at)(now)
        db.session.connection().exec_driver_sql(
            "UPDATE invoice SET open_minor = open_minor + ?, updated_at = ? WHERE id = ?",
            [(m["b_delta"], stamp, m["b_id"]) for m in moved],
        )
    elif moved:  # one statement for the batch (an executemany sends one per row)
        bulk.update_rows(table, [{"id": m["b_id"], "open_minor": m["b_delta"]} for m in moved], add=("open_minor",))
    closing = [{"b_id": i, "b_delta": delta[i], "b_on": on} for i, on in closed_on.items()]
    if closing and db.engine.dialect.name == "sqlite":
        stamp, day = _processor(table.c.updated_at)(now), _processor(table.c.closed_on)
        done = db.session.connection().exec_driver_sql(
            "UPDATE invoice SET open_minor = open_minor + ?, status = 'paid', closed_on = ?, next_action_on = NULL, "
            "updated_at = ? WHERE id = ? AND status = 'open'",
            [(c["b_delta"], day(c["b_on"]), stamp, c["b_id"]) for c in closing],
        )
        if done.rowcount != len(closing):
            raise LedgerError("an invoice changed while it was locked for booking")
    elif closing:
        # One statement for the batch, its rows as one JSON document (`portal.dunning.bulk`): an executemany
        # sent 95,000 statements for a 100,000-entry statement, each parsed, bound and executed on its own.
        source, params = bulk.recordset(table, ["id", "open_minor", "closed_on"], [
            {"id": c["b_id"], "open_minor": c["b_delta"], "closed_on": c["b_on"]} for c in closing])
        done = db.session.execute(text(
            f"UPDATE invoice SET open_minor = invoice.open_minor + u.open_minor, status = 'paid', closed_on = u.closed_on, "
            f"next_action_on = NULL, updated_at = :now FROM {source} WHERE invoice.id = u.id AND invoice.status = 'open'"
        ).bindparams(bindparam("now", now, type_=table.c.updated_at.type)), params)
        if done.rowcount != len(closing):
            raise LedgerError("an invoice changed while it was locked for booking")
    cancelled = escalation.stopped_many(stopped, reason=f"invoice {InvoiceStatus.PAID.value}")
    handed = sorted({i for i in delta if status[i] == InvoiceStatus.HANDED_OVER.value}) if kind == "payment" else []
    numbers = dict(db.session.execute(select(Invoice.id, Invoice.number).where(Invoice.id.in_(handed))).all()) if handed else {}
    events: list[dict] = []
    for index, event, closes in ledger_events:
        if closes:
            events += cancelled.get(event["invoice_id"], [])  # `book` cancels before it writes its own event
        events.append(event)
        if kind == "payment" and status[event["invoice_id"]] == InvoiceStatus.HANDED_OVER.value:
            from portal.dunning import handover  # a payment after handover: staff tell the agency

            r, invoice = rows[index], held[event["invoice_id"]]
            events.append(handover.payment_after_handover(
                merchant_id=invoice.merchant_id, invoice_id=invoice.id, debtor_id=invoice.debtor_id,
                number=numbers.get(invoice.id, ""), amount_minor=r["amount_minor"], currency=invoice.currency,
                source=source, external_ref=r["external_ref"], booked_on=r["booked_on"], actor=actor))
        if then is not None:
            events += then(rows[index], results[index])
    insert_records(Event.__table__, events)
    for invoice_id in ids:  # ORM copies of these invoices are stale now
        stale = db.session.identity_map.get(db.session.identity_key(Invoice, invoice_id))
        if stale is not None:
            db.session.expire(stale)

    for index, r in enumerate(rows):
        if r["invoice_id"] not in odd:
            continue
        invoice = db.session.get(Invoice, r["invoice_id"])
        booking = book(invoice, kind=kind, amount_minor=r["amount_minor"], source=source, external_ref=r["external_ref"],
                       booked_on=r["booked_on"], actor=actor, memo=r.get("memo"), data=r.get("data"))
        db.session.refresh(invoice)
        results[index] = BulkBooking(invoice.id, booking.created, invoice.open_minor, invoice.status)
        if then is not None:
            for extra in then(r, results[index]):
                db.session.add(Event(**extra))
    return results


def _processor(column):
    """The column type's own conversion to what the driver stores (identity when there is none)."""
    dialect = db.engine.dialect
    return column.type.dialect_impl(dialect).bind_processor(dialect) or (lambda value: value)


def insert_records(table, rows: list[dict]) -> None:
    """Insert rows of the same keys: the records that come with bulk bookings (ledger entries, events, the
    bank entries that explain them). SQLite: the driver's executemany over tuples converted by the columns'
    own bind processors (SQLAlchemy's per-row parameter handling costs about as much as SQLite's insert
    itself); Python-side column defaults are applied once per call. Elsewhere: `bulk.insert_rows`."""
    from portal.dunning import bulk

    if not rows:
        return
    if db.engine.dialect.name != "sqlite":
        bulk.insert_rows(table, rows)
        return
    keys = list(rows[0])
    defaults = []
    for column in table.columns:
        spec = column.default
        if column.key in keys or spec is None or not (spec.is_scalar or spec.is_callable):
            continue
        defaults.append((column.key, _processor(column)(spec.arg(None) if spec.is_callable else spec.arg)))
    from operator import itemgetter

    dialect = db.engine.dialect
    convert = [(k, p) for k, p in enumerate(table.c[key].type.dialect_impl(dialect).bind_processor(dialect) for key in keys)
               if p is not None]
    fixed = [value for _, value in defaults]
    names = ", ".join(f'"{k}"' for k in [*keys, *(k for k, _ in defaults)])
    marks = ", ".join("?" for _ in range(len(keys) + len(defaults)))
    values = []
    pick = itemgetter(*keys) if len(keys) > 1 else (lambda row: (row[keys[0]],))
    for row in rows:
        value = list(pick(row))
        for k, convert_one in convert:
            value[k] = convert_one(value[k])
        value += fixed
        values.append(tuple(value))
    db.session.connection().exec_driver_sql(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', values)
