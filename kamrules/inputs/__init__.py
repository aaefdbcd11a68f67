"""Account tables and invoice lines from CSV, JSON, YAML and XLSX files, with every bad cell reported.

Reading rules (what a spreadsheet export looks like, and what is refused):

* Text files must be UTF-8; a byte-order mark is dropped. CSV delimiter: whichever of ``;``,
  ``,`` and tab occurs most in the header line. Blank rows are skipped; every other row must
  have as many cells as the header.
* Spans: for CSV and XLSX the line is the row number (the header is row 1) and the column is
  the 1-based column number; for JSON and YAML they are the real line and column in the file.
* Numbers are Decimal. The decimal separator is decided once per file from the cells that
  settle it (``12,5`` or ``1.234,56`` mean decimal comma; ``12.5`` or ``1,234.56`` decimal
  point); plain integers are fine either way. If cells contradict each other, or the only
  separators are ambiguous (``1.234``: a thousand, or one and a bit?), that is an error unless
  ``decimal=`` is given. Thousands separators must group by three. NaN, infinities,
  spreadsheet error values (``#DIV/0!``), more than 28 significant digits or magnitudes of
  10^15 and above are errors.
* Dates: ISO ``2026-07-31`` (a time part is ignored), ``31.07.2026`` (day first) and
  ``31/07/2026``. Slash dates are day first (the European default) unless a row in the file
  can only be month first (``07/31/2026``); a file with both kinds is an error, and
  ``date_format="dmy"`` or ``"mdy"`` settles it explicitly.
* Account tables (``tables``): one row per account, an ``account`` column (or the column
  mapped to it) and any other columns as facts. Cells that read as numbers become Decimal,
  ``true``/``false`` become booleans, ISO dates become dates, other text stays text; an empty
  cell means the fact is not given. Duplicate account ids are errors.
* Invoice lines (``invoices``): ``account``, ``date``, ``amount`` and optionally ``quantity``,
  ``margin`` and ``invoice`` (an invoice id: purchases then count distinct invoices instead of
  lines). Lines outside the period and its previous period are not counted. An account with
  lines only in the previous period still appears, with revenue 0. ``revenue_previous`` is the
  account's revenue in the previous period (absent without lines there); the rules compute
  ``revenue_growth`` from it, missing when it is not positive (growth from nothing is undefined).

Modules, lowest first: ``cells`` (one cell → a value), ``records`` (what readers give),
``textfiles`` and ``xlsx`` (files → records), ``tables`` (account tables), ``invoices``
(invoice lines, periods, totals per period, the input of a portfolio review). Columnar reading:
``grid`` (a CSV file → string cells with row numbers), ``columns`` (whole columns checked at once),
``frames`` (account tables as polars frames; CSV account tables are read this way),
``invoice_frames`` (invoice totals per period as a streamed group_by).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kamrules import lazy_exports

if TYPE_CHECKING:
    from kamrules.inputs.cells import Value
    from kamrules.inputs.invoices import (
        INVOICE_ROLES,
        InvoiceLine,
        Period,
        aggregate_invoices,
        parse_period,
        read_invoice_lines,
        read_review_input,
    )
    from kamrules.inputs.records import parse_column_mapping
    from kamrules.inputs.tables import NOT_FACTS, AccountRow, read_account_table, read_table

# name -> the module that defines it, imported when the name is first used (PEP 562): evaluating an
# account reads no table, and so loads no table reader.
_EXPORTS = {
    "INVOICE_ROLES": "kamrules.inputs.invoices",
    "NOT_FACTS": "kamrules.inputs.tables",
    "AccountRow": "kamrules.inputs.tables",
    "InvoiceLine": "kamrules.inputs.invoices",
    "Period": "kamrules.inputs.invoices",
    "Value": "kamrules.inputs.cells",
    "aggregate_invoices": "kamrules.inputs.invoices",
    "parse_column_mapping": "kamrules.inputs.records",
    "parse_period": "kamrules.inputs.invoices",
    "read_account_table": "kamrules.inputs.tables",
    "read_invoice_lines": "kamrules.inputs.invoices",
    "read_review_input": "kamrules.inputs.invoices",
    "read_table": "kamrules.inputs.tables",
}

__all__ = [
    "INVOICE_ROLES",
    "NOT_FACTS",
    "AccountRow",
    "InvoiceLine",
    "Period",
    "Value",
    "aggregate_invoices",
    "parse_column_mapping",
    "parse_period",
    "read_account_table",
    "read_invoice_lines",
    "read_review_input",
    "read_table",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)
