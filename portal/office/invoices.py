"""Open items (`/office/invoices`): filters that combine, search, sortable columns, keyset pages,
totals of the selection and its CSV export in the import format."""
from __future__ import annotations

from flask import Response, g, redirect, render_template, request, stream_with_context, url_for
from sqlalchemy import select

from portal.clock import today_for
from portal.domain.spreadsheet import write_csv
from portal.extensions import db
from portal.models import Invoice, Policy
from portal.office import audit, bp
from portal.office import open_items as items


def _choices() -> dict:
    """Values the filter selects offer: this merchant's steps and customer groups, currencies in use."""
    m = g.merchant.id
    steps = items.distinct_values(db.session, Invoice.dunning_step, m)
    groups = db.session.execute(select(Policy.id, Policy.name).where(Policy.merchant_id == m).order_by(Policy.priority)).all()
    currencies = items.distinct_values(db.session, Invoice.currency, m)
    return {"steps": steps, "groups": groups, "currencies": currencies}


@bp.get("/invoices")
def invoices():
    f = items.Filters.from_args(request.args)
    today = today_for(g.merchant.timezone)
    after = request.args.get("after")
    page = items.select_page(db.session, g.merchant.id, f, today, after)
    first_page = not after or items.decode_cursor(after, f) is None
    if first_page and page.next_cursor is None:
        totals = items.totals_of(page.invoices)  # the page is the whole selection: added up as it is shown
    elif request.args.get("totals") == "1":
        totals = items.totals(db.session, g.merchant.id, f, today)  # asked for without htmx (the placeholder's link)
    else:
        # More than one page: adding up the whole selection reads every row of it (183,000 open invoices at a
        # million), so the list answers first and the totals follow in their own request (htmx, on load).
        totals = None
    context = dict(invoices=page.invoices, next_cursor=page.next_cursor, filters=f, first_page=first_page,
                   totals=totals, today=today)
    if request.headers.get("HX-Request"):
        html = render_template("office/partials/_invoice_results.html", **context)
    else:
        html = render_template("office/invoices.html", choices=_choices(), **context)
    return html, 200, {"Vary": "HX-Request"}


@bp.get("/invoices/totals")
def invoices_totals():
    """The totals of the list's selection, exact, per currency: the placeholder on the list loads them (htmx)."""
    f = items.Filters.from_args(request.args)
    if not request.headers.get("HX-Request"):  # opened as a page: the list with its totals
        return redirect(url_for("office.invoices", totals=1, **f.args()), 303)
    today = today_for(g.merchant.timezone)
    return render_template("office/partials/_invoice_totals.html", filters=f,
                           totals=items.totals(db.session, g.merchant.id, f, today)), 200


@bp.get("/invoices/export.csv")
def invoices_export():
    """Exactly the selection of the list, every page of it, as a CSV the import reads back unchanged."""
    f = items.Filters.from_args(request.args)
    today = today_for(g.merchant.timezone)
    audit("invoices.export", {"filters": f.args()})
    db.session.commit()
    merchant_id = g.merchant.id

    def generate():
        # Written in chunks of a thousand invoices: memory stays flat for any size of selection.
        batch, first = [], True
        for invoice in items.select_all(db.session, merchant_id, f, today):
            batch.append(items.export_row(invoice))
            if len(batch) == 1000:
                yield _chunk(batch, first)
                batch, first = [], False
        if batch or first:
            yield _chunk(batch, first)

    name = f"offene-posten-{today.isoformat()}.csv"
    return Response(stream_with_context(generate()), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _chunk(rows: list[dict], first: bool) -> str:
    text = write_csv(rows, items.EXPORT_COLUMNS, bom=first)
    return text if first else text.split("\r\n", 1)[1]  # the header only once
