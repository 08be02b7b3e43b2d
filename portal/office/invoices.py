"""Open items (`/office/invoices`): filters that combine, search, sortable columns, keyset pages,
totals of the selection and its CSV export in the import format."""
from __future__ import annotations

from flask import Response, g, render_template, request, stream_with_context
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
    page = items.select_page(db.session, g.merchant.id, f, today, request.args.get("after"))
    context = dict(invoices=page.invoices, next_cursor=page.next_cursor, filters=f, first_page=not request.args.get("after"),
                   totals=items.totals(db.session, g.merchant.id, f, today), today=today)
    if request.headers.get("HX-Request"):
        html = render_template("office/partials/_invoice_results.html", **context)
    else:
        html = render_template("office/invoices.html", choices=_choices(), **context)
    return html, 200, {"Vary": "HX-Request"}


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
