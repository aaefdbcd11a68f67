"""A review holding its accounts as a polars table renders exactly as one holding every AccountResult.

The oracle `as_table` turns an ordinary review into the table form (one row per account from
render/rows.py:account_row, plus its note codes; only the key accounts and the new, kept and lost
ones kept as results), as kamrules' columnar pipeline hands it to the renderers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import tempfile
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kamrules.cli import main
from kamrules.errors import Span
from kamrules.inputs import read_review_input
from kamrules.inputs.tables import AccountRow
from kamrules.kam import load_settings, load_structure_rules
from kamrules.kam.review import PortfolioReview, review
from kamrules.lang import load_ruleset
from kamrules.render import decision as report
from kamrules.render.columns import account_schema, csv_text, ordered_frame, table_schema
from kamrules.render.designation import trailer
from kamrules.render.export import neutral, review_csv, review_parquet, review_xlsx
from kamrules.render.review import ReviewReport, review_markdown, review_text
from kamrules.render.rows import SORT_FIELDS, STATUSES, View, account_row, ordered, review_rows

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
RULESET = load_ruleset(RULES)
SETTINGS = load_settings(RULES)
STRUCTURE = load_structure_rules(RULES)
AS_OF = dt.date(2026, 9, 30)
INVOICE_COLUMNS = "account=Cliente,date=Data,amount=Importo,quantity=Quantità,margin=Margine"
VIEWS = [
    View(),
    View(top=1),
    View(key_only=True),
    *(View(sort=f) for f in SORT_FIELDS),
    *(View(key_only=True, sort=f) for f in ("revenue", "name", "rank")),
    View(all=True),
    View(all=True, key_only=True, sort="name"),
]
# Text that a spreadsheet runs or that CSV must quote, and floats Python and polars word differently.
ODD_TEXT = ["=cmd|' /C calc'!A0", "+1", "-x", "@sum", "\tTab", "\rcr", 'say "hi"', "a,b", "two\nlines", "cr\rin", ""]
ODD_FLOATS = [1e-05, -1e-07, 1e16, 1.5e300, -2.5e-300, 5.0, 0.0, -0.0, 0.1, 1 / 3, float("nan"), float("inf")]


def as_table(rv: PortfolioReview) -> PortfolioReview:
    """The review in table form: every account a row, only the notable ones kept as results."""
    rows = [account_row(a, rv.metrics) | {"notes": list(a.notes)} for a in rv.accounts]
    table = pl.DataFrame(rows, schema=table_schema(rv.metrics))
    notable = [a for a in rv.accounts if a.decision.key_account or a.status in STATUSES]
    return replace(rv, accounts=notable, table=table)


def _xlsx(r: ReviewReport) -> list[list[list[Any]]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.xlsx"
        review_xlsx(r, path)
        book = openpyxl.load_workbook(path)
        return [[list(row) for row in sheet.iter_rows(values_only=True)] for sheet in book.worksheets]


def outputs(rv: PortfolioReview, meta: dict[str, Any], view: View, xlsx: bool = False) -> dict[str, Any]:
    """Every output of `kamrules portfolio` the table form must reproduce."""
    r = ReviewReport(rv, meta, RULESET.facts, view, "rules: rules (shipped)", "run")
    out = {
        "text": review_text(r),
        "markdown": review_markdown(r),
        "csv": review_csv(r),
        "trailer": json.dumps(trailer(rv), default=report.json_default),
    }
    if xlsx:
        out["xlsx"] = _xlsx(r)
    return out


def assert_same(rv: PortfolioReview, meta: dict[str, Any]) -> None:
    """Both forms give the same bytes in every view."""
    tabled = as_table(rv)
    for i, view in enumerate(VIEWS):
        xlsx = i in (0, len(VIEWS) - 1)
        assert outputs(tabled, meta, view, xlsx) == outputs(rv, meta, view, xlsx), view


def _example(transactions: bool) -> tuple[PortfolioReview, dict[str, Any]]:
    if transactions:
        args = (str(ROOT / "examples" / "invoices-it.csv"), True, "2026Q3", "2026Q2", INVOICE_COLUMNS, AS_OF)
    else:
        args = (str(ROOT / "examples" / "portfolio.csv"), False, None, None, None, AS_OF)
    rows, before, meta = read_review_input(*args)
    return review(rows, RULESET, SETTINGS, before, structure_rules=STRUCTURE, as_of=AS_OF), meta


@pytest.fixture(scope="module", params=[False, True], ids=["accounts", "invoices"])
def example(request: pytest.FixtureRequest) -> tuple[PortfolioReview, dict[str, Any]]:
    return _example(request.param)


def test_the_examples_render_the_same_from_the_table(example):
    """The example portfolio and invoice lines: text, Markdown, CSV, XLSX and JSON trailer byte for byte."""
    rv, meta = example
    assert len(as_table(rv).accounts) < len(rv.accounts)  # the renderers did without the others
    assert_same(rv, meta)


def test_counts_come_from_the_table(example):
    """Accounts, key accounts, new/kept/lost, notes and active accounts counted on the table as on the results."""
    rv, _ = example
    tabled = as_table(rv)
    for method, args in [("account_count", ()), ("key_count", ()), ("active_count", ())]:
        assert getattr(tabled, method)(*args) == getattr(rv, method)(*args), method
    for status in STATUSES:
        assert tabled.status_count(status) == rv.status_count(status) == len(rv.by_status(status))
    for code in ("first-order", "potential-unknown", "no-such-note"):
        assert tabled.note_count(code) == rv.note_count(code)


@pytest.mark.parametrize(
    "where", [None, {"key_account": True}, {"review": "lost"}, {"move": "hold"}, {"key_account": False, "move": "hold"}]
)
def test_review_rows_filter_the_table_as_the_results(example, where):
    """The rows asked for, with the same typed values, in the same order, from the table as from the results."""
    rv, _ = example
    assert review_rows(as_table(rv), where) == review_rows(rv, where)
    assert review_rows(rv, where) == [
        r for r in (account_row(a, rv.metrics) for a in rv.accounts) if all(r[c] == v for c, v in (where or {}).items())
    ]


odd_text = st.one_of(st.sampled_from(ODD_TEXT), st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=8))
money = st.one_of(
    st.sampled_from(["0.00001", "0.0000001", "1000", "1000", "0", "-0.5", "999999999999.99"]).map(Decimal),
    st.integers(-(10**6), 10**9).map(lambda c: Decimal(c).scaleb(-2)),
)


@st.composite
def portfolios(draw: Any) -> list[AccountRow]:
    """Account tables with odd ids and names, tiny and tied amounts, missing revenue, a previous column or not."""
    n = draw(st.integers(1, 10))
    previous = draw(st.booleans())
    prefixes = draw(
        st.lists(st.sampled_from(["C", "=cmd", "-", "a,b", 'q"', "x\ny", "É", "ß", "c"]), min_size=n, max_size=n)
    )
    rows = []
    for i in range(n):
        facts: dict[str, Any] = {"volume": draw(money).copy_abs(), "purchases": draw(st.integers(0, 50))}
        if draw(st.integers(0, 4)):
            facts["revenue"] = draw(money)
        if draw(st.booleans()):
            facts["margin"] = draw(money)
        if draw(st.booleans()):
            facts["name"] = draw(odd_text)
        if draw(st.booleans()):
            facts["potential_score"] = draw(st.sampled_from(["0.0000001", "0.5", "1", "0.00012"]).map(Decimal))
        for fact in ("relative_strength", "attractiveness", "trust_score"):
            if draw(st.booleans()):
                facts[fact] = Decimal(draw(st.integers(0, 100))).scaleb(-1)
        if previous:
            facts["previous_key_account"] = draw(st.booleans())
        rows.append(AccountRow(f"{prefixes[i]}{i}", facts, Span("gen.csv", i + 2)))
    return rows


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(portfolios())
def test_generated_portfolios_render_the_same_from_the_table(rows):
    """Odd names and ids, tiny amounts, ties, missing revenue, with and without a previous designation."""
    rv = review(rows, RULESET, SETTINGS, structure_rules=STRUCTURE, as_of=AS_OF)
    assert_same(rv, {"file": "gen.csv"})


# Account rows straight from hypothesis: any float, any text, nulls where account_row gives None.
floats = st.one_of(st.none(), st.sampled_from(ODD_FLOATS), st.floats(allow_nan=False, allow_infinity=True))
texts = st.one_of(st.sampled_from(ODD_TEXT), st.text(st.characters(blacklist_categories=("Cs",)), max_size=6))


@st.composite
def account_rows(draw: Any) -> list[dict[str, Any]]:
    """Rows shaped as account_row gives them, with ties in every column."""
    n = draw(st.integers(0, 12))
    schema = account_schema(["revenue"])
    pools = {
        c: draw(st.lists(floats if t == pl.Float64 else texts, min_size=1, max_size=3))
        for c, t in schema.items()
        if t in (pl.Float64, pl.String)
    }
    rows = []
    for i in range(n):
        row = {c: draw(st.sampled_from(pools[c])) for c in pools}
        row["account"] = f"{row['account']}{i}"  # ids are unique
        row["move"] = row["move"] or None
        row["rank"] = draw(st.one_of(st.none(), st.integers(1, 3)))
        row["eligible"], row["key_account"] = draw(st.booleans()), draw(st.booleans())
        rows.append({c: row[c] for c in schema})
    return rows


@settings(max_examples=300, deadline=None)
@given(account_rows(), st.sampled_from([None, *SORT_FIELDS]))
def test_the_column_writer_writes_what_the_csv_module_writes(rows, sort):
    """Quoting, apostrophes, True/False, empty None, every float as repr, in --sort order, byte for byte."""
    # NaN has no place in Python's order (every comparison with it is false); a review never holds one
    assume(sort is None or not any(r.get(sort) != r.get(sort) for r in rows))
    frame = pl.DataFrame(rows, schema=account_schema(["revenue"]))
    expected_rows = ordered(rows, sort, None)
    columns = list(rows[0]) if rows else ["account"]
    expected = report.csv_text([{c: neutral(v) for c, v in r.items()} for r in expected_rows], columns, "\n")
    assert csv_text(ordered_frame(frame, sort)) == expected


@pytest.mark.parametrize("view", [View(), View(key_only=True, sort="revenue"), View(sort="name")])
@pytest.mark.parametrize("tabled", [False, True], ids=["results", "table"])
def test_parquet_reads_back_as_the_csv_rows(example, view, tabled, tmp_path):
    """The Parquet file holds the CSV's rows, typed: written back through the csv module, the same CSV."""
    rv, meta = example
    r = ReviewReport(as_table(rv) if tabled else rv, meta, RULESET.facts, view)
    review_parquet(r, tmp_path / "r.parquet")
    back = pl.read_parquet(tmp_path / "r.parquet")
    assert back.schema == pl.Schema(account_schema(rv.metrics))
    rows = [{c: neutral(v) for c, v in x.items()} for x in back.to_dicts()]
    assert report.csv_text(rows, back.columns, lineterminator="\n") == review_csv(r)


def test_portfolio_writes_parquet_to_a_file_and_to_stdout(tmp_path):
    """`--output FILE.parquet` and `--format parquet` give the same typed table."""
    args = ["portfolio", str(ROOT / "examples" / "portfolio.csv"), "--rules", str(RULES), "--no-audit", "--key-only"]
    runner = CliRunner()
    written = runner.invoke(main, [*args, "--output", str(tmp_path / "k.parquet")])
    assert written.exit_code == 0, written.output
    shown = runner.invoke(main, [*args, "--format", "parquet"])
    assert shown.exit_code == 0
    from_file, from_stdout = pl.read_parquet(tmp_path / "k.parquet"), pl.read_parquet(io.BytesIO(shown.stdout_bytes))
    assert from_file.equals(from_stdout) and from_file.height > 0 and from_file["key_account"].all()
    csv_rows = list(csv.DictReader(io.StringIO(runner.invoke(main, [*args, "--format", "csv"]).stdout)))
    assert from_file["account"].to_list() == [r["account"] for r in csv_rows]
