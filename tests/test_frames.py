"""The columnar account-table reader against the cell-by-cell one, and the frame API of the review."""

from __future__ import annotations

import random
from decimal import Decimal as D

import polars as pl
import pytest

from kamrules.errors import InvalidInput
from kamrules.inputs.frames import read_account_frame, read_review_frame
from kamrules.inputs.tables import rows_of_table
from kamrules.inputs.textfiles import read_csv

CELLS = [
    "",
    " ",
    "12",
    "-3",
    "12.50",
    "12,5",
    "1.234,56",
    "1,234.56",
    "1.234",
    "0.125",
    "+7",
    "1e3",
    "NaN",
    "inf",
    "#DIV/0!",
    "true",
    "FALSE",
    "2026-03-31",
    "31.07.2026",
    "31.02.2026",
    "2026-13-01",
    "Rossi, Mario",
    "ACME",
    "1000000000000000",
    "12.3.4",
    "0,5",
    "x1",
    " 42 ",
    "1 234,5",
    "-0",
    "00012",
    "12.",
    ".5",
    "1'000",
    "99999999999999.9999999999999",
    "Straße 5",
    "\u00a012",
    "\x1c7",
]
IDS = ["A", "B", "C", "", " ", "A ", "B\x07", "Ünï", "D", "E"]


def _roundtrip(path: str, **kw):
    """The cell-by-cell reader's rows or problems, and the columnar reader's, in comparable form."""

    def run(read):
        try:
            return "ok", [(r.account, r.facts, r.span, dict(r.columns or {})) for r in read()]
        except InvalidInput as e:
            return "error", [p.to_dict() for p in e.problems]

    return run(lambda: rows_of_table(read_csv(path), **kw)), run(lambda: read_account_frame(path, **kw).rows())


@pytest.mark.parametrize("seed", range(200))
def test_columnar_reader_equals_cell_by_cell_reader_on_random_tables(seed, tmp_path):
    """On random tables of odd cells, ids, separators and quotes, both readers give the same rows or problems."""
    rnd = random.Random(seed)
    sep = rnd.choice([";", ",", "\t"])
    ncols = rnd.randint(1, 4)
    header = ["account", *[f"f{i}" for i in range(ncols)]]
    lines = [sep.join(header)]
    # Mostly good tables (unique ids, cells of one kind per column), so both the rows and the problems are compared.
    pools = [rnd.sample(CELLS, rnd.randint(1, 4)) for _ in range(ncols)]
    for k in range(rnd.randint(0, 12)):
        account = rnd.choice(IDS) if rnd.random() < 0.1 else f"K{k}"
        cells = [account] + [rnd.choice(CELLS if rnd.random() < 0.1 else pool) for pool in pools]
        cells = [f'"{c}"' if sep in c or rnd.random() < 0.05 else c for c in cells]
        if rnd.random() < 0.05:
            cells.append("extra")
        lines.append(sep.join(cells) if rnd.random() > 0.05 else "")
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + rnd.choice(["", "\n"]), encoding="utf-8")
    decimal = rnd.choice([None, None, ".", ","])
    old, new = _roundtrip(str(path), decimal=decimal)
    assert new == old


def test_frame_columns_are_typed_and_money_exact(tmp_path):
    """Numbers become an exact Decimal column, booleans a Boolean column, text a String one; rows keep 12.50."""
    path = tmp_path / "a.csv"
    path.write_text("account;name;revenue;previous_key_account\nA;Acme;12,50;true\nB;;3;false\n", encoding="utf-8")
    frame = read_review_frame(str(path), False, None, None, None)
    acc = frame.accounts
    assert acc.schema == pl.Schema(
        {"account": pl.String, "name": pl.String, "revenue": pl.Decimal(38, 2), "previous_key_account": pl.Boolean}
    )
    assert acc["revenue"].to_list() == [D("12.50"), D("3.00")]
    assert frame.before is None and frame.meta == {"file": str(path), "kind": "accounts"}
    assert [r.facts for r in frame.rows()] == [
        {"name": "Acme", "revenue": D("12.50"), "previous_key_account": True},
        {"revenue": D("3"), "previous_key_account": False},
    ]
    assert str(frame.rows()[1].facts["revenue"]) == "3"  # as written, not as the column's two places


@pytest.mark.parametrize("seed", range(40))
def test_abc_on_columns_equals_abc_on_rows_with_ties_and_nonpositive_values(seed, tmp_path):
    """ABC of the frame's column (fixed and computed) gives the same classes, ranks, values, shares and limits."""
    from kamrules.kam.abc import abc_classes
    from kamrules.kam.abc_frame import abc_of_frame
    from kamrules.kam.computed_abc import computed_abc
    from kamrules.kam.settings import Settings

    rnd = random.Random(seed)
    n = rnd.randint(1, 300)
    pool = [rnd.choice(["0", "-5", "10", "10.5", "3", "100", "7.25", "1"]) for _ in range(6)]  # many ties
    ids = rnd.sample(range(10_000), n)
    values = [rnd.choice(pool) if rnd.random() < 0.7 else f"{rnd.uniform(-50, 500):.{rnd.randint(0, 3)}f}" for _ in ids]
    if seed % 2:  # all positive: computed ABC on columns, not the row path that values <= 0 take
        values = [v if D(v) > 0 else "2" for v in values]
    path = tmp_path / "a.csv"
    path.write_text(
        "account,revenue\n" + "".join(f"Z{i},{v}\n" for i, v in zip(ids, values, strict=True)), encoding="utf-8"
    )
    settings = Settings(a_cut=D(rnd.choice(["0.8", "0.5", "0.95"])), b_cut=D("0.95"))
    rows, _ = abc_of_frame(read_account_frame(str(path)), "revenue", "fixed", settings)
    expected = abc_classes({f"Z{i}": D(v) for i, v in zip(ids, values, strict=True)}, settings.a_cut, settings.b_cut)
    assert list(rows) == list(expected)
    assert [str(r.value) for r in rows] == [str(r.value) for r in expected]  # values as written
    computed_rows, computed = abc_of_frame(read_account_frame(str(path)), "revenue", "computed", settings)
    reference = computed_abc({f"Z{i}": D(v) for i, v in zip(ids, values, strict=True)}, str(path))
    assert list(computed_rows) == list(reference.rows)
    assert (computed.limits, computed.notes) == (reference.limits, reference.notes)


@pytest.mark.parametrize("decimal", [".", ","])
def test_invoice_totals_per_quarter_equal_the_row_readers(decimal, tmp_path):
    """The streamed group_by gives each account's exact revenue and lines per quarter, as aggregate_invoices does."""
    from kamrules.inputs import aggregate_invoices, parse_period, read_invoice_lines
    from kamrules.inputs.invoice_frames import totals_per_period

    rnd = random.Random(5)
    sep = ";" if decimal == "," else ","
    lines = [f"account{sep}date{sep}amount"]
    for _ in range(500):
        amount = f"{rnd.uniform(-100, 10_000):.{rnd.randint(0, 2)}f}".replace(".", decimal)
        lines.append(f"K{rnd.randint(1, 30)}{sep}2026-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}{sep}{amount}")
    path = tmp_path / "inv.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got = totals_per_period(path, "quarter", decimal=decimal)
    rows = read_invoice_lines(path, decimal=decimal)
    want = []
    for q in ("2026Q1", "2026Q2", "2026Q3", "2026Q4"):
        p = parse_period(q)
        # aggregate_invoices also lists accounts with lines only in the quarter before (0 lines): not totals
        want += [
            (r.account, q, r.facts["revenue"], r.facts["purchases"])
            for r in aggregate_invoices(rows, p)
            if r.facts["purchases"]
        ]
    assert list(got.iter_rows()) == sorted(want, key=lambda w: (w[1], w[0]))


def test_invoice_totals_report_bad_cells_through_the_row_reader(tmp_path):
    """A bad line is reported with its row and column, as the row reader reports it."""
    from kamrules.inputs.invoice_frames import totals_per_period

    path = tmp_path / "inv.csv"
    path.write_text("account,date,amount\nA,2026-01-05,10\nB,2026-02-30,5\nC,2026-03-01,#N/A\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as exc:
        totals_per_period(path)
    assert [(p.span.line, p.span.col, p.message) for p in exc.value.problems] == [
        (3, 2, "not a valid date"),
        (4, 3, "not a valid amount"),
    ]
