"""Account tables and invoice lines: formats, spreadsheet conventions, aggregation and golden errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from pathlib import Path

import openpyxl
import pytest

from kamrules.errors import InvalidInput
from kamrules.inputs import (
    aggregate_invoices,
    parse_column_mapping,
    parse_period,
    read_account_table,
    read_invoice_lines,
    read_review_input,
)

DATA = Path(__file__).parent / "data" / "tables"
IT_COLUMNS = "account=Cliente,date=Data,amount=Importo,quantity=Quantità,margin=Margine,invoice=Fattura"


def f(name: str) -> str:
    return str(DATA / name)


def headlines(exc: pytest.ExceptionInfo) -> list[str]:
    return [p.headline().replace(str(DATA) + "/", "") for p in exc.value.problems]


def test_account_table_csv():
    """A CSV account table gives Decimal numbers, booleans, ISO and dotted dates, and text; empty cells are left out."""
    rows = read_account_table(f("accounts.csv"))
    assert [r.account for r in rows] == ["ACME", "BETA", "GAMMA"]
    assert rows[0].facts == {"revenue": D("1234.50"), "stage": "mid-KAM", "key": True, "reviewed": dt.date(2026, 3, 31)}
    assert rows[1].facts == {"revenue": D("980.25"), "stage": "early-KAM", "key": False}
    assert rows[2].facts["reviewed"] == dt.date(2025, 12, 31)
    assert (rows[2].span.line, rows[2].span.col) == (4, 1)


@pytest.mark.parametrize("name", ["accounts.json", "accounts.yaml"])
def test_account_table_json_and_yaml(name):
    """JSON and YAML account tables read to the same rows, numbers as written (not binary floats)."""
    rows = read_account_table(f(name))
    assert [(r.account, r.facts) for r in rows] == [
        ("ACME", {"revenue": D("1234.50"), "stage": "mid-KAM", "key": True}),
        ("BETA", {"revenue": D("980.25"), "stage": "early-KAM", "key": False}),
    ]


def test_account_table_xlsx(tmp_path):
    """An XLSX account table reads numbers, text numbers and dates from the first sheet."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Cliente", "revenue", "since"])
    ws.append(["ACME", 1234.5, dt.datetime(2024, 5, 1)])
    ws.append([1042, "980,25", None])
    path = tmp_path / "accounts.xlsx"
    wb.save(path)
    rows = read_account_table(path, columns={"account": "Cliente"})
    assert [(r.account, r.facts) for r in rows] == [
        ("ACME", {"revenue": D("1234.5"), "since": dt.date(2024, 5, 1)}),
        ("1042", {"revenue": D("980.25")}),
    ]
    assert (rows[1].span.line, rows[1].span.col) == (3, 1)


def test_italian_invoice_file_with_bom_semicolons_and_decimal_comma():
    """A BOM, semicolon, decimal-comma, dd/mm/yyyy export with Italian column names aggregates per account."""
    lines = read_invoice_lines(f("invoices_it.csv"), columns=parse_column_mapping(IT_COLUMNS))
    assert lines[0].amount == D("1234.56") and lines[0].date == dt.date(2026, 7, 15)
    rows = aggregate_invoices(lines, parse_period("2026Q3"))
    assert [(r.account, r.facts) for r in rows] == [
        (
            "ACME S.p.A.",
            {
                "revenue": D("2000.00"),
                "volume": D(15),
                "purchases": 1,
                "margin": D("450.50"),
                "revenue_previous": D("1000.00"),
            },
        ),
        ("Beta Srl", {"revenue": D(500), "volume": D(2), "purchases": 1, "margin": D("-20.5")}),
        ("Gamma", {"revenue": D(0), "volume": D(0), "purchases": 0, "margin": D(0), "revenue_previous": D("250.00")}),
    ]


def test_purchases_count_lines_without_invoice_column():
    """Without an invoice column every line is a purchase; a month period and its previous month work."""
    rows = aggregate_invoices(read_invoice_lines(f("invoices.csv")), parse_period("2026-07"))
    assert [(r.account, r.facts) for r in rows] == [
        ("ACME", {"revenue": D("150.50"), "purchases": 2}),
        ("BETA", {"revenue": D(0), "purchases": 0, "revenue_previous": D(20)}),
    ]


def test_ambiguous_slash_dates_read_day_first():
    """03/04/2026 with no disambiguating row is 3 April (the documented European default)."""
    lines = read_invoice_lines(f("ambiguous_dates.csv"))
    assert [li.date for li in lines] == [dt.date(2026, 4, 3), dt.date(2026, 6, 5)]
    assert read_invoice_lines(f("ambiguous_dates.csv"), date_format="mdy")[0].date == dt.date(2026, 3, 4)


@pytest.mark.parametrize(
    "text, start, end, prev",
    [
        ("2026-07", "2026-07-01", "2026-07-31", "2026-06"),
        ("2026Q3", "2026-07-01", "2026-09-30", "2026Q2"),
        ("2026Q1", "2026-01-01", "2026-03-31", "2025Q4"),
        ("2026", "2026-01-01", "2026-12-31", "2025"),
        ("2026-01-01..2026-03-31", "2026-01-01", "2026-03-31", "2025-10-03..2025-12-31"),
    ],
)
def test_periods(text, start, end, prev):
    """Months, quarters, years and ranges parse to their days, and know their previous period."""
    p = parse_period(text)
    assert (p.start.isoformat(), p.end.isoformat(), p.previous().label) == (start, end, prev)


def test_bad_period():
    """A period in no known form is an error naming the accepted forms."""
    with pytest.raises(InvalidInput) as exc:
        parse_period("July")
    assert headlines(exc) == [
        "--period:1:1: error: not a period (expected a month 2026-07, a quarter 2026Q3, "
        "a year 2026 or a range 2026-01-01..2026-03-31, from 1900 on, found 'July')"
    ]


def test_column_mapping():
    """--columns text parses to a mapping; malformed and repeated entries are errors with their column."""
    assert parse_column_mapping("account=Cliente, date = Data") == {"account": "Cliente", "date": "Data"}
    with pytest.raises(InvalidInput) as exc:
        parse_column_mapping("account=Cliente,date,account=X")
    assert headlines(exc) == [
        "--columns:1:17: error: not a column mapping (expected name=Column, found 'date')",
        "--columns:1:22: error: duplicate mapping 'account' (expected each mapping once, "
        "found 'account' again (first to 'Cliente'))",
    ]


GOLDEN = {
    "empty.csv": ["empty.csv:1:1: error: file is empty (expected a header row and data rows, found no content)"],
    "header_only.csv": ["header_only.csv:1:1: error: no data rows (expected one row per account, found only a header)"],
    "latin1.csv": ["latin1.csv:2:2: error: file is not valid UTF-8 (expected UTF-8 text, found byte 0xfc)"],
    "bad_duplicate_account.csv": [
        "bad_duplicate_account.csv:4:1: error: duplicate account 'ACME' (expected each account once, "
        "found 'ACME' again (first at line 2))"
    ],
    "bad_duplicate_account.yaml": [
        "bad_duplicate_account.yaml:3:12: error: duplicate account 'ACME' (expected each account once, "
        "found 'ACME' again (first at line 1))"
    ],
    "bad_nan.csv": [
        "bad_nan.csv:2:2: error: not a valid number (expected a number like 1234.56 or 1,234.56, found 'NaN')",
        "bad_nan.csv:3:2: error: not a valid number (expected a number like 1234.56 or 1,234.56, found 'inf')",
        "bad_nan.csv:4:2: error: not a valid number (expected a number like 1234.56 or 1,234.56, "
        "found spreadsheet error '#DIV/0!')",
    ],
    "bad_nan.json": ["bad_nan.json:2:3: error: not a finite number (expected a number, found NaN)"],
    "bad_huge.csv": [
        "bad_huge.csv:2:2: error: not a valid number (expected a number like 1234.56 or 1,234.56, "
        "found 1e16 (too large: 10^15 or more))",
        "bad_huge.csv:3:2: error: not a valid number (expected a number like 1234.56 or 1,234.56, "
        "found 1.23456789012345678901234567890 (more than 28 significant digits))",
    ],
    "bad_missing_column.csv": [
        "bad_missing_column.csv:1:1: error: missing column 'account' (expected a column named 'account', "
        "found columns 'Cliente', 'Importo')"
    ],
    "bad_row_length.csv": [
        "bad_row_length.csv:3:1: error: wrong number of cells in row (expected 2 cells like the header, found 3)"
    ],
    "bad_mixed_decimal.csv": [
        "bad_mixed_decimal.csv:3:2: error: numbers use both '.' and ',' as decimal separator "
        "(expected one decimal separator per file, found decimal point at 3:2 and decimal comma at 2:2)"
    ],
    "bad_ambiguous_decimal.csv": [
        "bad_ambiguous_decimal.csv:2:2: error: cannot tell the decimal separator (expected a number that settles it, "
        "like 12,5 or 12.5, found only numbers like 1.234 or 1,234, which read as thousands or as decimals)"
    ],
    "bad.xlsx": [
        "bad.xlsx: error: cannot read workbook (expected an .xlsx file saved by a spreadsheet program, "
        "found a file that is not an .xlsx workbook)"
    ],
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_bad_account_tables(name):
    """Each kind of bad account table gives its golden message, naming file, row and column."""
    with pytest.raises(InvalidInput) as exc:
        read_account_table(f(name))
    assert headlines(exc) == GOLDEN[name]


def test_bad_invoice_cells_are_all_reported():
    """Every bad cell of an invoice file is reported in one error: bad amount, bad date, missing id and amount."""
    with pytest.raises(InvalidInput) as exc:
        read_invoice_lines(f("bad_cells.csv"))
    assert headlines(exc) == [
        "bad_cells.csv:2:3: error: not a valid amount (expected a number like 1234.56 or 1,234.56, found '12x')",
        "bad_cells.csv:3:2: error: not a valid date (expected a date like 2026-07-31, 31/07/2026 or 31.07.2026, "
        "found '2026-13-01')",
        "bad_cells.csv:4:1: error: missing account id (expected an account id, found an empty cell)",
        "bad_cells.csv:4:3: error: not a valid amount (expected a number like 1234.56 or 1,234.56, "
        "found an empty cell)",
    ]


def test_mixed_date_orders_are_an_error():
    """A file with both 13/07/2026 and 07/13/2026 is refused rather than guessed."""
    with pytest.raises(InvalidInput) as exc:
        read_invoice_lines(f("bad_mixed_dates.csv"))
    assert headlines(exc) == [
        "bad_mixed_dates.csv:3:2: error: dates are written both day first and month first "
        "(expected one date order per file, found day first at 2:2, month first at 3:2)"
    ]


def test_missing_mapped_invoice_columns_suggest_the_mapping():
    """Unmapped Italian headers produce one missing-column error per required role, with a help line."""
    with pytest.raises(InvalidInput) as exc:
        read_invoice_lines(f("invoices_it.csv"))
    assert [p.message for p in exc.value.problems] == [
        "missing column 'account'",
        "missing column 'amount'",
        "missing column 'date'",
    ]
    assert exc.value.problems[0].help == "name the column 'account' or map it, e.g. --columns account=<column>"


def test_unknown_role_in_mapping():
    """A role invoices do not have is refused with the list of roles."""
    with pytest.raises(InvalidInput) as exc:
        read_invoice_lines(f("invoices.csv"), columns={"cliente": "Cliente"})
    assert headlines(exc) == [
        "--columns: error: unknown column role 'cliente' "
        "(expected account, date, amount, quantity, margin, invoice, found 'cliente')"
    ]


def test_review_input_of_an_account_table():
    """The input of a review from an account table is its rows, no previous rows, and the file and kind."""
    rows, before, meta = read_review_input(f("accounts.csv"), False, None, None, None)
    assert rows == read_account_table(f("accounts.csv"))
    assert before is None
    assert meta == {"file": f("accounts.csv"), "kind": "accounts"}


def test_review_input_of_invoices():
    """The input of a review from invoices is the totals of the period and of the previous one, with their labels."""
    rows, before, meta = read_review_input(f("invoices.csv"), True, "2026Q3", None, None)
    assert [(r.account, r.facts["revenue"]) for r in rows] == [("ACME", D("150.50")), ("BETA", D("10"))]
    assert [(r.account, r.facts["revenue"]) for r in before or []] == [("BETA", D("20"))]
    assert meta == {"file": f("invoices.csv"), "kind": "invoices", "period": "2026Q3", "previous_period": "2026Q2"}


def test_review_input_previous_period_must_come_before():
    """A --previous period that does not end before --period starts is refused."""
    with pytest.raises(InvalidInput) as exc:
        read_review_input(f("invoices.csv"), True, "2026Q3", "2026Q3", None)
    assert headlines(exc) == [
        "--previous: error: the previous period 2026Q3 does not come before 2026Q3 "
        "(expected a period ending before 2026-07-01, found 2026-07-01..2026-09-30)"
    ]


def test_review_input_period_without_lines():
    """A period the invoice file has no lines in is refused, naming the dates the file covers."""
    with pytest.raises(InvalidInput) as exc:
        read_review_input(f("invoices.csv"), True, "2030Q3", None, None)
    assert headlines(exc) == [
        "invoices.csv: error: no invoice lines in 2030Q3 "
        "(expected lines dated 2030-07-01..2030-09-30, found lines from 2026-06-30 to 2026-09-30)"
    ]


def test_errors_capped_at_first_fifty_with_a_count(tmp_path):
    """100,000 bad cells are all found, but the text and JSON forms show the first 50 and count the rest."""
    from kamrules.errors import SHOWN_PROBLEMS

    path = tmp_path / "bad.csv"
    path.write_text("account;revenue\n" + "".join(f"A{i};#DIV/0!\n" for i in range(100_000)), encoding="utf-8")
    with pytest.raises(InvalidInput) as exc:
        read_account_table(path)
    err = exc.value
    assert len(err.problems) == 100_000
    text = err.render()
    assert text.count("error: not a valid number") == SHOWN_PROBLEMS == 50
    assert "A0;#DIV/0!" in text and "A50;#DIV/0!" not in text  # the first 50 rows in file order
    assert text.endswith("... and 99950 more problems not shown (the first 50 are)\nfound 100000 problems in 1 file")
    doc = err.to_dict()
    assert (len(doc["problems"]), doc["more_problems"]) == (50, 99_950)
    assert doc["problems"][0]["line"] == 2
