"""The back-office dashboard (`/office/`): what collects, per customer group, step and channel.

The figures come from `portal.analytics.queries` (their definitions live there); this view
parses the filters, turns figures into tables (the same rows feed the page, its charts and
the CSV downloads) and renders. `?export=<table>` answers one table as CSV.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from flask import Response, abort, g, render_template, request
from flask_babel import format_decimal, format_percent
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.analytics import charts, queries, rollup
from portal.clock import today_for
from portal.domain.money import minor_to_str
from portal.domain.spreadsheet import write_csv
from portal.extensions import db
from portal.i18n import channel_label, format_day, format_minor
from portal.models import Policy
from portal.office import bp
from portal.timeline.labels import step_label

BUCKET_LABELS = {
    "not_due": _l("not yet due"), "0_30": _l("0–30 days"), "31_60": _l("31–60 days"),
    "61_90": _l("61–90 days"), "90_plus": _l("over 90 days"),
}
CASE_KINDS = {"dispute": _l("Disputes"), "plan": _l("Installment plans"), "promise": _l("Promises to pay")}
MAX_DAYS = 732


@dataclass(frozen=True)
class Money:
    minor: int
    currency: str


@dataclass(frozen=True)
class Share:
    value: float | None


@dataclass
class Table:
    key: str
    title: str
    explanation: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)
    chart: object = None


def cell_html(value) -> str:
    if isinstance(value, Money):
        return format_minor(value.minor, value.currency)
    if isinstance(value, Share):
        return "–" if value.value is None else format_percent(value.value, "#,##0.0\u00a0%")
    if isinstance(value, float):
        return format_decimal(value, "#,##0.0")
    if value is None:
        return "–"
    return str(value)


def cell_csv(value):
    if isinstance(value, Money):
        return minor_to_str(value.minor, value.currency)
    if isinstance(value, Share):
        return "" if value.value is None else f"{value.value * 100:.1f}"
    return "" if value is None else value


def _day(arg: str, default: date) -> date:
    try:
        return date.fromisoformat(request.args.get(arg) or "")
    except ValueError:
        return default


def parse_scope(today: date, cache: rollup.Cache) -> tuple[queries.Scope, dict]:
    first = date(today.year, today.month, 1)
    default_start = date(first.year - (first.month <= 2), (first.month - 3) % 12 + 1, 1)  # two months before this one
    start, end = _day("start", default_start), _day("end", today)
    if end < start:
        start, end = end, start
    start = max(start, end - timedelta(days=MAX_DAYS))
    m = g.merchant.id
    currencies = cache.currencies(m) or ["EUR"]
    currency = request.args.get("currency") if request.args.get("currency") in currencies else currencies[0]
    groups = db.session.execute(select(Policy).where(Policy.merchant_id == m, Policy.superseded_at.is_(None))
                                .order_by(Policy.priority, Policy.id)).scalars().all()  # one entry per group, all versions
    group = request.args.get("group", type=int)
    group = group if group in {p.group_id for p in groups} else None
    channel = request.args.get("channel") if request.args.get("channel") in ("email", "sms", "letter") else None
    scope = queries.Scope(merchant_id=m, start=start, end=end, today=today, currency=currency, group=group, channel=channel)
    return scope, {"currencies": currencies, "groups": groups}


def build_tables(dash: queries.Dashboard) -> list[Table]:
    s, cur = dash.scope, dash.scope.currency
    money = lambda minor: Money(int(minor), cur)  # noqa: E731
    out = []

    aging = Table("aging", _("Open amount by days past due on %(day)s", day=format_day(dash.aging.day)),
                  _("Invoices with a balance above zero at the end of that day (total plus every booking up to it), by "
                    "days since the due date; handed-over claims are no longer counted."),
                  [_("Days past due"), _("Open amount"), _("Invoices")])
    for b in queries.BUCKETS:
        aging.rows.append([str(BUCKET_LABELS[b]), money(dash.aging.amounts[b]), dash.aging.counts[b]])
    aging.rows.append([_("Total"), money(dash.aging.total), sum(dash.aging.counts.values())])
    aging.chart = charts.bars(aging.title, [charts.Bar(r[0], r[1].minor, cell_html(r[1])) for r in aging.rows[:-1]])
    out.append(aging)

    dev = Table("development", _("Development of the open amount"),
                _("The same figure at the end of each month of the period, split by days past due."),
                [_("Day"), *[str(BUCKET_LABELS[b]) for b in queries.BUCKETS], _("Total")])
    for point in dash.development:
        dev.rows.append([format_day(point.day), *[money(point.amounts[b]) for b in queries.BUCKETS], money(point.total)])
    dev.chart = charts.stacked(
        dev.title,
        [(format_day(p.day), [charts.Segment(p.amounts[b], f"seg-{b}") for b in queries.BUCKETS], format_minor(p.total, cur))
         for p in dash.development],
        [(f"seg-{b}", str(BUCKET_LABELS[b])) for b in queries.BUCKETS],
    )
    out.append(dev)

    r = dash.recovery
    rec = Table("recovery", _("Recovery of invoices due in the period"),
                _("Of the invoice totals that fell due in the period (cancelled invoices left out): the part received "
                  "so far, at most each invoice's total; days from due date to full payment as median and 90th percentile."),
                [_("Figure"), _("Value")])
    rec.rows += [[_("Fell due"), money(r.due_minor)], [_("Received"), money(r.recovered_minor)],
                 [_("Share received"), Share(r.share)], [_("Invoices due / paid in full"), f"{r.invoices} / {r.paid_invoices}"],
                 [_("Days to payment, median"), r.median_days], [_("Days to payment, 90th percentile"), r.p90_days]]
    out.append(rec)
    by_step = Table("recovery_by_step", _("Paid in full, by the last step before payment"),
                    _("Invoices of the period paid in full, by the last dunning step taken before the payment."),
                    [_("Step"), _("Invoices"), _("Amount")])
    for step, (count, amount) in sorted(r.by_step.items(), key=lambda kv: -kv[1][1]):
        by_step.rows.append([step_label(step) if step else _("before any reminder"), count, money(amount)])
    by_step.chart = charts.bars(by_step.title, [charts.Bar(row[0], row[2].minor, cell_html(row[2])) for row in by_step.rows])
    out.append(by_step)
    by_channel = Table("recovery_by_channel", _("Paid in full, by the channel of the last reminder"),
                       _("The same invoices by the channel of the last dunning message actually sent."),
                       [_("Channel"), _("Invoices"), _("Amount")])
    for channel, (count, amount) in sorted(r.by_channel.items(), key=lambda kv: -kv[1][1]):
        by_channel.rows.append([channel_label(channel) if channel else _("no reminder sent"), count, money(amount)])
    by_channel.chart = charts.bars(by_channel.title, [charts.Bar(row[0], row[2].minor, cell_html(row[2])) for row in by_channel.rows])
    out.append(by_channel)

    fun = Table("funnel", _("From message to payment"),
                _("Dunning messages queued in the period, by step and channel: sent; delivered (none of the channels "
                  "in use reports delivery); portal link opened and payment started within 7 days of sending; all "
                  "invoices of the message paid within 7, 14 and 30 days."),
                [_("Step"), _("Channel"), _("Queued"), _("Sent"), _("Delivered"), _("Link opened"), _("Payment started"),
                 _("Paid in 7 days"), _("Paid in 14 days"), _("Paid in 30 days")])
    for f in dash.funnel:
        fun.rows.append([step_label(f.step), channel_label(f.channel), f.queued, f.sent, _("not reported"), f.opened,
                         f.started, f.paid[7], f.paid[14], f.paid[30]])
    totals = [sum(row[i] for row in fun.rows) for i in (3, 5, 6, 9)] if fun.rows else [0, 0, 0, 0]
    fun.chart = charts.bars(_("All messages of the period"), [
        charts.Bar(label, value, str(value)) for label, value in
        zip([_("Sent"), _("Link opened"), _("Payment started"), _("Paid in 30 days")], totals)])
    out.append(fun)

    ss = dash.self_service
    self_t = Table("self_service", _("Settled without staff"),
                   _("Invoices paid in full in the period: paid by card in the portal, under an installment plan or a "
                     "promise the customer made, with no staff action on the invoice."),
                   [_("How"), _("Invoices")])
    self_t.rows += [[_("Paid by card in the portal"), ss.portal_card], [_("Installment plan"), ss.plan],
                    [_("Promise to pay"), ss.promise], [_("With staff involved"), ss.with_staff],
                    [_("Other (e.g. bank transfer)"), ss.settled - ss.without_staff - ss.with_staff],
                    [_("Share without staff"), Share(ss.share)]]
    out.append(self_t)
    c = dash.cases
    cases_t = Table("cases", _("Requests and time to answer"),
                    _("Requests opened in the period; time from the request to the first answer by staff, and whether it "
                      "came before the service-level deadline."),
                    [_("Figure"), _("Value")])
    cases_t.rows += [[str(CASE_KINDS.get(k, k)), c.opened.get(k, 0)] for k in ("dispute", "plan", "promise")]
    cases_t.rows += [[_("Answered"), c.answered], [_("Answered in time"), c.within_sla],
                     [_("Waiting for an answer"), c.waiting],
                     [_("Hours to answer, median"), c.median_hours], [_("Hours to answer, 90th percentile"), c.p90_hours]]
    out.append(cases_t)

    dso = Table("dso", _("Days sales outstanding per month"),
                _("Open amount at the month's end divided by the amount invoiced in that month, times the days of the month."),
                [_("Month"), _("Open at month end"), _("Invoiced"), _("DSO (days)")])
    for month in dash.dso:
        dso.rows.append([format_day(month.month, "MMMM y"), money(month.receivables), money(month.sales), month.dso])
    dso.chart = charts.bars(dso.title, [charts.Bar(row[0], row[3] or 0, cell_html(row[3])) for row in dso.rows])
    out.append(dso)

    h, ch = dash.handover, dash.charges
    rest = Table("handover_charges", _("Handover, fees and interest"),
                 _("Claims handed over to collection in the period with their balance at handover; fees and interest "
                   "booked in the period, and the part of them on invoices since paid in full."),
                 [_("Figure"), _("Charged or handed over"), _("Collected")])
    rest.rows += [[_("Handed over (%(count)s)", count=h.count), money(h.amount_minor), None],
                  [_("Dunning fees and late-payment flat fees"), money(ch.fee_charged), money(ch.fee_collected)],
                  [_("Default interest"), money(ch.interest_charged), money(ch.interest_collected)]]
    out.append(rest)
    return out


@bp.get("/")
def dashboard():
    today = today_for(g.merchant.timezone)
    cache = rollup.Cache(db.session)
    scope, choices = parse_scope(today, cache)
    dash = queries.dashboard(db.session, scope, open_cache=cache.open_on, figures=cache.figure)
    db.session.commit()  # the pre-aggregate rows written for past days
    tables = build_tables(dash)
    export = request.args.get("export")
    if export:
        table = next((t for t in tables if t.key == export), None)
        if table is None:
            abort(404)
        body = write_csv([[cell_csv(v) for v in row] for row in table.rows], table.columns)
        name = f"settle-{table.key}-{scope.start.isoformat()}-{scope.end.isoformat()}.csv"
        return Response(body, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return render_template("office/dashboard.html", dash=dash, scope=scope, tables=tables, cell=cell_html, share=Share,
                           **choices)
