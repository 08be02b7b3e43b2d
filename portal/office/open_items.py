"""Open items: the invoice list's filters, search, sort order and keyset pages (Flask-free).

`Filters.from_args` reads the query string; `select_page` returns one page after a
cursor (keyset pagination: the page is found through an index, never by skipping rows,
so page 2,000 costs what page 1 costs); `totals` adds up the whole selection per
currency; `select_all` streams it for the CSV export. Every statement is scoped to one
merchant.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, fields, replace
from datetime import date, timedelta

from sqlalchemy import Select, and_, any_, func, or_, select, union
from sqlalchemy.orm import aliased, contains_eager

from portal.domain import rf
from portal.domain.intake import normalize_phone
from portal.domain.money import minor_to_str
from portal.models import Debtor, Invoice

PAGE_SIZE = 50
STATUSES = ("open", "paid", "cancelled", "written_off", "handed_over", "all")
AGES = ("not_due", "0-30", "31-60", "61-90", "90+")
PAUSED = ("no", "yes", "dispute", "plan", "promise", "unreachable", "staff", "agency")
CHANNELS = ("email", "sms", "letter")


def _sort_columns(sort: str) -> list:
    """The columns a sort order goes by, before the invoice id that makes every row's place unique. By customer
    name it is (name, customer id): the customers are then walked in the order of their (merchant, name, id)
    index and each one's invoices looked up, instead of joining and sorting the whole selection."""
    return {
        "due": [Invoice.due_date],
        "number": [Invoice.number],
        "debtor": [Debtor.name, Debtor.id],
        "amount": [Invoice.amount_minor],
        "open": [Invoice.open_minor],
        "step": [func.coalesce(Invoice.dunning_step, "")],
    }[sort]


SORTS = ("due", "number", "debtor", "amount", "open", "step")


@dataclass(frozen=True)
class Filters:
    q: str = ""
    status: str = "open"
    step: str = ""
    group: int | None = None
    channel: str = ""
    paused: str = ""
    age: str = ""
    currency: str = ""
    sort: str = "due"
    desc: bool = False

    @classmethod
    def from_args(cls, args) -> "Filters":
        """Unknown values fall back to the default (a hand-edited URL never answers 500)."""
        def pick(name, allowed, default=""):
            value = (args.get(name) or "").strip()
            return value if value in allowed else default

        group = args.get("group", "")
        currency = (args.get("currency") or "").strip().upper()
        return cls(
            q=(args.get("q") or "").strip()[:200],
            status=pick("status", STATUSES, "open"),
            step=(args.get("step") or "").strip()[:40],
            group=int(group) if str(group).isascii() and str(group).isdigit() and len(str(group)) < 10 else None,
            channel=pick("channel", CHANNELS),
            paused=pick("paused", PAUSED),
            age=pick("age", AGES),
            currency=currency if len(currency) == 3 and currency.isalpha() else "",
            sort=pick("sort", SORTS, "due"),
            desc=args.get("dir") == "desc",
        )

    def args(self, **changes) -> dict:
        """The query-string form of these filters (defaults left out), for links and the export."""
        chosen = replace(self, **changes) if changes else self
        out = {}
        for f in fields(chosen):
            value = getattr(chosen, f.name)
            if f.name == "desc":
                if value:
                    out["dir"] = "desc"
            elif value not in ("", None) and not (f.name == "status" and value == "open") and not (f.name == "sort" and value == "due"):
                out[f.name] = value
        return out


def _filtered(session, merchant_id: int, f: Filters, today: date) -> Select:
    # the customer's merchant too: then the (merchant, name, id) index gives the order by name
    return (select(Invoice).join(Debtor, and_(Debtor.id == Invoice.debtor_id, Debtor.merchant_id == merchant_id))
            .where(*_conditions(session, merchant_id, f, today, page=True, joined=True)))


def _conditions(session, merchant_id: int, f: Filters, today: date, *, page: bool = False, joined: bool = False,
                walk: bool = False) -> list:
    """The filters and the search as conditions on the invoice table alone (the customer's columns by subquery), so
    the totals can add up the selection without joining every invoice to its customer. `page`: for one page in the
    list's order (a broad search is then checked row by row along the order, see `search_condition`), not for the
    totals of the whole selection."""
    conds = [Invoice.merchant_id == merchant_id]
    if f.status != "all":
        conds.append(Invoice.in_status(f.status))  # the value in the SQL: open invoices have their own indexes
    if f.step == "none":
        conds.append(Invoice.dunning_step.is_(None))
    elif f.step:
        conds.append(Invoice.dunning_step == f.step)
    if f.group is not None:
        conds.append(Invoice.dunning_policy_id == f.group)
    if f.channel:
        conds.append(Invoice.debtor_id.in_(
            select(Debtor.id).where(Debtor.merchant_id == merchant_id, Debtor.preferred_channel == f.channel)))
    if f.paused == "no":
        conds.append(Invoice.paused_reason.is_(None))
    elif f.paused == "yes":
        conds.append(Invoice.paused_reason.is_not(None))
    elif f.paused:
        conds.append(Invoice.paused_reason == f.paused)
    if f.age == "not_due":
        conds.append(Invoice.due_date >= today)
    elif f.age:
        low, high = {"0-30": (0, 30), "31-60": (31, 60), "61-90": (61, 90), "90+": (91, None)}[f.age]
        # days past due = today - due_date; 0–30 means due today or up to 30 days ago
        conds.append(Invoice.due_date <= today - timedelta(days=low))
        if high is not None:
            conds.append(Invoice.due_date >= today - timedelta(days=high))
    if f.currency:
        conds.append(Invoice.currency == f.currency)
    if f.q:
        found = search_condition(merchant_id, f.q, postgres=session.get_bind().dialect.name == "postgresql",
                                 session=session, page=page, joined=joined)
        conds.append(found if walk or not isinstance(found, _Walk) else found.condition)
    return conds


class _Walk:
    """A broad search's condition for one page: to be checked along the list's order (see `select_page`)."""

    def __init__(self, condition):
        self.condition = condition


WALK = 20_000  # invoices a broad search checks along the order (5–9 µs each) before it fetches its matches instead
NARROW = 1000  # up to this many customers (and invoices by their own columns) a search hands to PostgreSQL as a list


def search_condition(merchant_id: int, q: str, postgres: bool = False, *, session=None, page: bool = False,
                     joined: bool = False):
    """Invoice number, order reference, name, company, customer number (contained), email, phone and RF reference
    (exact, normalised).

    Asked as one id list per table (invoices by their own columns, invoices of the debtors found by theirs) rather
    than one OR across the join: each part can then use its table's indexes (the trigram indexes on PostgreSQL,
    see migrations/versions/analytics_02), instead of scanning every invoice with its debtor.

    On PostgreSQL (with `session`) the search first asks how many it finds, up to NARROW + 1 of each: a narrow search
    (an email, a number, a rare name) passes its ids as lists, whose invoices two bitmap index scans find; a broad one
    (a common first name, two letters) matches a large share of all invoices, so one page of it is found by walking
    the list's order and checking each invoice's customer on the way (a few hundred rows for 51 matches), where
    fetching every match to sort them cost O(matches): 16,670 customers with 66,680 invoices took 60 ms, 'an'
    (most customers) 0.8 s. The totals of a broad search still add up every match."""
    like = f"%{q}%"
    invoice_terms = [Invoice.number.ilike(like), Invoice.order_ref.ilike(like)]
    compact = rf.normalize(q)
    if compact.startswith("RF") and len(compact) > 4:
        invoice_terms.append(Invoice.rf_reference == compact)
    def debtor_terms(d) -> list:
        terms = [d.name.ilike(like), d.company.ilike(like), d.external_ref.ilike(like)]
        if "@" in q:
            terms.append(d.email == q.lower())  # stored lower-cased by intake (portal.domain.intake)
        elif sum(c.isdigit() for c in q) >= 6:
            phone = normalize_phone(q, "DE")
            if phone:
                terms.append(d.phone == phone)
        return terms

    debtors = select(Debtor.id).where(Debtor.merchant_id == merchant_id, or_(*debtor_terms(Debtor)))
    own = select(Invoice.id).where(Invoice.merchant_id == merchant_id, or_(*invoice_terms))
    if postgres and session is not None:
        debtor_ids = session.execute(debtors.limit(NARROW + 1)).scalars().all()
        # under three characters no trigram index helps: counting the invoices by number would read all of them
        invoice_ids = session.execute(own.limit(NARROW + 1)).scalars().all() if len(q) >= 3 else [None] * (NARROW + 1)
        if len(debtor_ids) <= NARROW and len(invoice_ids) <= NARROW:
            return or_(Invoice.debtor_id.in_(debtor_ids), Invoice.id.in_(invoice_ids))
        # the invoices found by their own columns: none (the usual case for a name), a short list, or checked per row
        if len(q) >= 3 and not invoice_ids:
            by_own = []
        elif len(invoice_ids) <= NARROW:
            by_own = [Invoice.id.in_(invoice_ids)]
        else:
            by_own = invoice_terms
        if page and joined:
            # the statement joins each invoice's customer already (the order by name): the customers are filtered as
            # the name index is walked, before their invoices are looked up
            return or_(*debtor_terms(Debtor), *by_own)
        if page:
            # A scalar subquery, not EXISTS: PostgreSQL would turn EXISTS into a hash of every matching customer
            # (a sequential scan of all of them for two letters, 0.3 s) where one primary-key look-up per invoice
            # walked is what a broad search needs.
            d = aliased(Debtor)  # its own name: the page sorted by customer joins the customers too
            customer = (select(or_(*debtor_terms(d))).where(d.id == Invoice.debtor_id, d.merchant_id == merchant_id)
                        .scalar_subquery())
            return _Walk(or_(func.coalesce(customer, False), *by_own))
    if postgres:
        # Each id list computed once (an InitPlan) as an array: `debtor_id = ANY(…) OR id = ANY(…)` is then two
        # bitmap index scans, where `id IN (the union)` hash-joined the list against every invoice (a surname that
        # 16,700 customers share took seconds).
        return or_(Invoice.debtor_id == any_(func.array(debtors.scalar_subquery())),
                   Invoice.id == any_(func.array(own.scalar_subquery())))
    found = union(
        select(Invoice.id).where(Invoice.merchant_id == merchant_id, or_(*invoice_terms)),
        select(Invoice.id).where(Invoice.merchant_id == merchant_id, Invoice.debtor_id.in_(debtors)),
    )
    return Invoice.id.in_(select(found.subquery().c.id))


def distinct_values(session, column, merchant_id: int) -> list:
    """The distinct non-NULL values of an invoice column of one merchant, found by skipping through an index that
    starts with (merchant_id, column): one index probe per value instead of reading every invoice."""
    step = select(func.min(column)).where(Invoice.merchant_id == merchant_id, column.is_not(None))
    seen: list = []
    value = session.execute(step).scalar()
    while value is not None:
        seen.append(value)
        value = session.execute(step.where(column > value)).scalar()
    return seen


def _cursor_values(invoice: Invoice, sort: str) -> list:
    values = {"due": [invoice.due_date.isoformat()], "number": [invoice.number], "debtor": [invoice.debtor.name, invoice.debtor_id],
              "amount": [invoice.amount_minor], "open": [invoice.open_minor], "step": [invoice.dunning_step or ""]}[sort]
    return [*values, invoice.id]


def encode_cursor(invoice: Invoice, f: Filters) -> str:
    raw = json.dumps(_cursor_values(invoice, f.sort), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_CURSOR_TYPES = {"due": (str,), "number": (str,), "debtor": (str, int), "amount": (int,), "open": (int,), "step": (str,)}


def decode_cursor(token: str | None, f: Filters) -> list | None:
    """The sort values and the invoice id of the last row shown; None for a missing, foreign or hand-edited cursor
    (the first page)."""
    if not token:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        types = (*_CURSOR_TYPES[f.sort], int)
        if not isinstance(values, list) or len(values) != len(types):
            return None
        if not all(isinstance(v, t) and not isinstance(v, bool) for v, t in zip(values, types)):
            return None
        if f.sort == "due":
            values[0] = date.fromisoformat(values[0])
        return values
    except (ValueError, TypeError):
        return None


def _after(columns: list, values: list, desc: bool):
    """(c1, c2, …) > (v1, v2, …) in the list's order (< when descending), spelt out column by column (the columns may
    come from two tables), with the first column's bound repeated on its own so that an index walk starts at the
    cursor instead of reading every earlier row."""
    def beyond(column, value):
        return column < value if desc else column > value

    condition = beyond(columns[-1], values[-1])
    for column, value in zip(reversed(columns[:-1]), reversed(values[:-1])):
        condition = or_(beyond(column, value), and_(column == value, condition))
    first = columns[0] <= values[0] if desc else columns[0] >= values[0]
    return and_(first, condition)


def _ordered(stmt: Select, f: Filters, cursor) -> Select:
    columns = [*_sort_columns(f.sort), Invoice.id]
    if cursor is not None:
        stmt = stmt.where(_after(columns, cursor, f.desc))
    return stmt.order_by(*[c.desc() if f.desc else c.asc() for c in columns])


@dataclass
class Page:
    invoices: list
    next_cursor: str | None


def select_page(session, merchant_id: int, f: Filters, today: date, after: str | None = None, size: int = PAGE_SIZE) -> Page:
    cursor = decode_cursor(after, f)
    if f.sort == "debtor":
        # the order is the customer's: walked through the (merchant, name, id) index with each one's invoices
        stmt = _ordered(_filtered(session, merchant_id, f, today), f, cursor)
    else:
        # The page's invoices are chosen on the invoice table alone and only they are joined to their customers:
        # joining first joined every row of the selection (66,680 for a surname, 266,720 index probes) before the
        # limit.
        if f.sort == "step":
            chosen = _step_ids(session, merchant_id, f, today, cursor, size + 1)
        else:
            conds = _conditions(session, merchant_id, f, today, page=True, walk=True)
            walk = next((c for c in conds if isinstance(c, _Walk)), None)
            chosen = None
            if walk is not None:
                chosen = _walked_ids(session, conds, walk, f, cursor, size + 1)
                if chosen is None:  # not found along the order: by its matches
                    conds = _conditions(session, merchant_id, f, today)
            if chosen is None:
                chosen = _ordered(select(Invoice.id).where(*conds), f, cursor).limit(size + 1).scalar_subquery()
        stmt = _ordered(select(Invoice).join(Debtor, and_(Debtor.id == Invoice.debtor_id, Debtor.merchant_id == merchant_id))
                        .where(Invoice.merchant_id == merchant_id, Invoice.id.in_(chosen)), f, None)
    stmt = stmt.options(contains_eager(Invoice.debtor)).limit(size + 1)
    rows = session.execute(stmt).scalars().all()
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, encode_cursor(rows[-1], f) if more and rows else None)


def _walked_ids(session, conds: list, walk: "_Walk", f: Filters, cursor, limit: int):
    """The first `limit` ids of a broad search along the list's order, checking at most WALK invoices; None when those
    held fewer (the matches are rare under the other filters: then they are fetched and sorted instead)."""
    columns = [*_sort_columns(f.sort), Invoice.id]
    others = [c for c in conds if c is not walk]
    keys = [c.label(f"k{n}") for n, c in enumerate(columns)]
    walked = (_ordered(select(*keys, walk.condition.label("hit")).where(*others), f, cursor).limit(WALK).subquery())
    order = [walked.c[f"k{n}"] for n in range(len(columns))]
    stmt = (select(walked.c[f"k{len(columns) - 1}"]).where(walked.c.hit)
            .order_by(*[c.desc() if f.desc else c.asc() for c in order]).limit(limit))
    ids = session.execute(stmt).scalars().all()
    return ids if len(ids) >= limit else None


def _step_ids(session, merchant_id: int, f: Filters, today: date, cursor, limit: int) -> list[int]:
    """The ids of one page in dunning-step order: invoices without a step first (by id), then by step and id; the
    reverse when descending. Asked as the two parts, each walking the (merchant[, status], dunning_step, id) index
    from the cursor, where the order by `coalesce(dunning_step, '')` sorted the whole selection (228 ms for all
    statuses at a million)."""
    # a broad search by its matches here (not checked along the order: a part may hold none of them)
    base = select(Invoice.id).where(*_conditions(session, merchant_id, f, today))
    desc = f.desc
    in_none = cursor is not None and cursor[0] == ""  # step keys are never empty: '' is the part without a step

    def without_step(after):
        stmt = base.where(Invoice.dunning_step.is_(None))
        if after is not None:
            stmt = stmt.where(Invoice.id < after[1] if desc else Invoice.id > after[1])
        return stmt.order_by(Invoice.id.desc() if desc else Invoice.id.asc())

    def with_step(after):
        stmt = base.where(Invoice.dunning_step.is_not(None))
        if after is not None:
            stmt = stmt.where(_after([Invoice.dunning_step, Invoice.id], after, desc))
        columns = (Invoice.dunning_step, Invoice.id)
        return stmt.order_by(*[c.desc() if desc else c.asc() for c in columns])

    if desc:
        parts = [without_step(cursor)] if in_none else [with_step(cursor), without_step(None)]
    else:
        parts = [without_step(cursor), with_step(None)] if cursor is None or in_none else [with_step(cursor)]
    ids: list[int] = []
    for part in parts:
        ids += session.execute(part.limit(limit - len(ids))).scalars().all()
        if len(ids) >= limit:
            break
    return ids


def totals(session, merchant_id: int, f: Filters, today: date) -> list[tuple[str, int, int, int]]:
    """(currency, count, amount, open) of the whole selection: currencies are never added up."""
    stmt = (
        select(Invoice.currency, func.count(), func.coalesce(func.sum(Invoice.amount_minor), 0),
               func.coalesce(func.sum(Invoice.open_minor), 0))
        .where(*_conditions(session, merchant_id, f, today))
        .group_by(Invoice.currency)
        .order_by(Invoice.currency)
    )
    return [tuple(r) for r in session.execute(stmt).all()]


def totals_of(invoices: list) -> list[tuple[str, int, int, int]]:
    """The same figures as `totals` for invoices already loaded (a selection that fits on one page)."""
    sums: dict[str, list[int]] = {}
    for invoice in invoices:
        row = sums.setdefault(invoice.currency, [0, 0, 0])
        row[0] += 1
        row[1] += invoice.amount_minor
        row[2] += invoice.open_minor
    return [(currency, *sums[currency]) for currency in sorted(sums)]


def select_all(session, merchant_id: int, f: Filters, today: date, batch: int = 1000):
    """Every invoice of the selection in the list's order, fetched page by page (constant memory)."""
    after = None
    while True:
        page = select_page(session, merchant_id, f, today, after, size=batch)
        yield from page.invoices
        if page.next_cursor is None:
            return
        after = page.next_cursor


EXPORT_COLUMNS = ("number", "issue_date", "due_date", "amount", "currency", "order_ref", "debtor_ref", "kind", "name",
                  "company", "email", "phone", "language", "date_of_birth", "street", "postal_code", "city", "country",
                  "open_amount", "status")


def export_row(invoice: Invoice) -> dict:
    """One invoice in the CSV import's columns (the last two are ignored by the import)."""
    d = invoice.debtor
    return {
        "number": invoice.number, "issue_date": invoice.issue_date.isoformat(), "due_date": invoice.due_date.isoformat(),
        "amount": minor_to_str(invoice.amount_minor, invoice.currency), "currency": invoice.currency,
        "order_ref": invoice.order_ref, "debtor_ref": d.external_ref, "kind": d.kind, "name": d.name,
        "company": d.company, "email": d.email, "phone": d.phone, "language": d.language,
        "date_of_birth": d.date_of_birth.isoformat() if d.date_of_birth else None, "street": d.street,
        "postal_code": d.postal_code, "city": d.city, "country": d.country,
        "open_amount": minor_to_str(invoice.open_minor, invoice.currency), "status": invoice.status,
    }
