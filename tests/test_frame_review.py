"""The review on columns (kam/frame_review.py) is the review account by account (kam/review.py), value for value."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kamrules.inputs.frames import read_account_frame
from kamrules.kam import load_settings, load_structure_rules
from kamrules.kam import review as pf
from kamrules.kam.frame_review import review_columns
from kamrules.lang import load_ruleset
from kamrules.render.rows import account_row

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
DAY = dt.date(2026, 9, 30)
STAGES = ["pre-KAM", "early-KAM", "mid-KAM", "partnership-KAM", "synergistic-KAM"]
HEADER = [
    "account",
    "name",
    "revenue",
    "volume",
    "purchases",
    "margin",
    "stage",
    "stage_since",
    "trust_score",
    "attractiveness",
    "relative_strength",
    "share_of_wallet",
    "revenue_previous",
    "potential_score",
    "executive_sponsor",
    "previous_key_account",
]


@pytest.fixture(scope="module")
def rules() -> tuple[Any, Any, Any]:
    return load_ruleset(str(RULES)), load_settings(str(RULES)), load_structure_rules(str(RULES))


def _both(path: Path, rules: tuple[Any, Any, Any]) -> tuple[pf.PortfolioReview, pf.PortfolioReview]:
    ruleset, conf, structure = rules
    frame = read_account_frame(path)
    done = review_columns(frame, ruleset, conf, structure, DAY)
    assert done is not None, "the column path refused a clean table"
    rows = pf.review(frame.rows(), ruleset, conf, None, None, None, structure, DAY, "durable", 0)
    return rows, done.review


def _assert_same(by_rows: pf.PortfolioReview, on_columns: pf.PortfolioReview) -> None:
    assert on_columns.table is not None
    want = [account_row(a, by_rows.metrics) | {"notes": list(a.notes)} for a in by_rows.accounts]
    assert on_columns.table.to_dicts() == want
    for part in ("metrics", "concentration", "portfolio_facts", "previous_known", "selection", "rules_version"):
        assert getattr(on_columns, part) == getattr(by_rows, part), part
    assert on_columns.structure.to_dict() == by_rows.structure.to_dict()
    assert [a.decision.account for a in on_columns.accounts] == [
        a.decision.account for a in by_rows.accounts if a.decision.key_account
    ]
    for status in ("new", "kept", "lost"):  # made on demand: the same results, decisions, ABC rows and potential
        assert on_columns.by_status(status) == by_rows.by_status(status), status
    assert on_columns.accounts == [a for a in by_rows.accounts if a.decision.key_account]


def test_the_example_portfolio_is_reviewed_alike(rules: tuple[Any, Any, Any]) -> None:
    by_rows, on_columns = _both(ROOT / "examples" / "portfolio.csv", rules)
    assert sum(1 for a in by_rows.accounts if a.decision.key_account) > 0
    _assert_same(by_rows, on_columns)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


_money = st.one_of(
    st.none(),
    st.sampled_from(["0", "-120.50", "1000", "1000.00"]),  # zero, negative and tied values
    st.decimals(min_value=1, max_value=10**9, places=2, allow_nan=False).map(str),
)
_score = st.one_of(st.none(), st.decimals(min_value=0, max_value=10, places=1).map(str))
_row = st.tuples(
    _money,
    st.one_of(st.none(), st.integers(0, 10**6)),
    st.one_of(st.none(), st.integers(1, 300)),
    _money,
    st.sampled_from(STAGES),
    st.one_of(st.none(), st.dates(dt.date(2020, 1, 1), dt.date(2026, 9, 1))),
    _score,
    _score,
    _score,
    st.one_of(st.none(), st.decimals(min_value=0, max_value=1, places=2).map(str)),
    _money,
    st.one_of(st.none(), st.none(), st.decimals(min_value=0, max_value=1, places=3).map(str)),
    st.sampled_from(["true", "false", ""]),
    st.sampled_from(["true", "false", "false"]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_row, min_size=1, max_size=60), with_previous=st.booleans())
def test_random_portfolios_are_reviewed_alike(
    rows: list[tuple[Any, ...]], with_previous: bool, rules: tuple[Any, Any, Any], tmp_path: Path
) -> None:
    """Ties, zero and negative values, missing cells, given potentials: every account's row and result agree."""
    header = HEADER if with_previous else HEADER[:-1]
    lines = [",".join(header)]
    for i, r in enumerate(rows):
        cells = [f"K{i:04d}", f"Customer {i}", *(_cell(v) for v in r)]
        lines.append(",".join(cells[: len(header)]))
    path = tmp_path / "portfolio.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    by_rows, on_columns = _both(path, rules)
    _assert_same(by_rows, on_columns)


@pytest.mark.parametrize(
    ("column", "cell"),
    [
        ("trust_score", "11"),  # out of the fact's range
        ("stage", "late-KAM"),  # not one of the enum's values
        ("revenue", "a lot"),  # text in a number column
        ("key_account", "true"),  # derived by the rules, not given
        ("colour", "red"),  # not a fact
    ],
)
def test_a_table_the_row_path_must_judge_is_left_to_it(
    column: str, cell: str, rules: tuple[Any, Any, Any], tmp_path: Path
) -> None:
    """The column path takes only what it can decide exactly; the row path reports the problem with its cell."""
    path = tmp_path / "bad.csv"
    path.write_text(f"account,revenue,stage,{column}\nA1,100,pre-KAM,{cell}\nA2,50,mid-KAM,\n", encoding="utf-8")
    if column in ("revenue", "stage"):
        path.write_text(f"account,{column}\nA1,{cell}\nA2,\n", encoding="utf-8")
    ruleset, conf, structure = rules
    assert review_columns(read_account_frame(path), ruleset, conf, structure, DAY) is None


def _portfolio(*args: str) -> str:
    from click.testing import CliRunner

    from kamrules.cli import main

    r = CliRunner().invoke(main, ["portfolio", *args, "--quiet"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return "\n".join(line for line in r.output.splitlines() if ", run " not in line)  # the run id differs


@pytest.mark.parametrize(
    "view",
    [
        ["--format", "table"],
        ["--format", "markdown", "--all"],
        ["--format", "csv"],
        ["--format", "csv", "--key-only", "--sort", "selection_score"],
        ["--format", "table", "--top", "3", "--sort", "name"],
    ],
)
def test_both_engines_write_the_same_review(view: list[str], tmp_path: Path) -> None:
    """--engine durable (account by account) and the default columnar review give the same document."""
    args = [str(ROOT / "examples" / "portfolio.csv"), "--rules", str(RULES), "--no-audit", *view]
    assert _portfolio(*args, "--engine", "durable") == _portfolio(*args)


def test_a_columnar_review_is_recorded_and_verifies(tmp_path: Path) -> None:
    """Every account decision of a columnar review is in the log, and `audit verify` passes."""
    from click.testing import CliRunner

    from kamrules.audit import log
    from kamrules.cli import main

    db = tmp_path / "log.db"
    _portfolio(str(ROOT / "examples" / "portfolio.csv"), "--rules", str(RULES), "--audit-db", str(db))
    assert log.count_decisions(db) == 30 + 1  # every account, and the portfolio's structure decision
    r = CliRunner().invoke(main, ["audit", "verify"], env={log.ENV_VAR: str(db)}, catch_exceptions=False)
    assert r.exit_code == 0, r.output


def test_the_report_names_its_run_and_explain_recomputes_a_trace_from_it(tmp_path: Path) -> None:
    """Full provenance on demand: the run id in the report finds the account's decision in the log."""
    import re

    from click.testing import CliRunner

    from kamrules.audit import log
    from kamrules.cli import main

    db = tmp_path / "log.db"
    r = CliRunner().invoke(
        main,
        ["portfolio", str(ROOT / "examples" / "portfolio.csv"), "--rules", str(RULES), "--quiet"],
        env={log.ENV_VAR: str(db)},
        catch_exceptions=False,
    )
    run = re.search(r", run ([0-9a-f]{12})", r.output)
    assert r.exit_code == 0 and run, r.output
    r = CliRunner().invoke(
        main, ["audit", "explain", "C1002", "--run", run[1]], env={log.ENV_VAR: str(db)}, catch_exceptions=False
    )
    assert r.exit_code == 0, r.output
    assert "C1002" in r.output


def test_a_csv_file_is_written_as_the_csv_on_standard_output(tmp_path: Path) -> None:
    """--output FILE.csv from a review on columns (written a slice at a time) is the CSV durable_rules prints."""
    from kamrules.render import columns

    out = tmp_path / "accounts.csv"
    args = [str(ROOT / "examples" / "portfolio.csv"), "--rules", str(RULES), "--no-audit"]
    printed = _portfolio(*args, "--format", "csv", "--engine", "durable")
    old, columns.SLICE = columns.SLICE, 7  # several slices on 30 accounts
    try:
        _portfolio(*args, "--output", str(out))
    finally:
        columns.SLICE = old
    assert out.read_text(encoding="utf-8").rstrip("\n") == printed.rstrip("\n")


@pytest.mark.parametrize("suffix", [".xlsx", ".parquet"])
def test_workbooks_and_parquet_from_columns_hold_what_durable_rules_writes(suffix: str, tmp_path: Path) -> None:
    """--output FILE.xlsx / FILE.parquet from the review on columns has the cells account by account gives."""
    import polars as pl
    from openpyxl import load_workbook

    args = [str(ROOT / "examples" / "portfolio.csv"), "--rules", str(RULES), "--no-audit", "--sort", "revenue"]
    read: dict[str, Any] = {}
    for engine in ("durable", "columnar"):
        out = tmp_path / f"{engine}{suffix}"
        _portfolio(*args, "--engine", engine, "--output", str(out))
        if suffix == ".parquet":
            read[engine] = pl.read_parquet(out).to_dicts()
        else:
            book = load_workbook(out, read_only=True)
            read[engine] = {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in book.worksheets}
    assert read["durable"] == read["columnar"]
    rows = read["columnar"] if suffix == ".parquet" else read["columnar"]["Accounts"][1:]
    assert len(rows) == 30


def test_a_review_longer_than_an_excel_sheet_is_refused_before_writing(tmp_path: Path, monkeypatch: Any) -> None:
    """More accounts than an XLSX sheet holds: exit 2 naming the limit and the formats that hold them."""
    from click.testing import CliRunner

    from kamrules.cli import main
    from kamrules.cli import portfolio as command

    monkeypatch.setattr(command, "XLSX_ROWS", 30)  # the example's 30 accounts and the title row do not fit
    out = tmp_path / "review.xlsx"
    args = ["portfolio", str(ROOT / "examples" / "portfolio.csv"), "--rules", str(RULES), "--no-audit"]
    r = CliRunner().invoke(main, [*args, "--output", str(out)])
    assert r.exit_code == 2 and "holds at most 29 accounts and this review has 30" in r.output
    assert not out.exists()
    assert CliRunner().invoke(main, [*args, "--output", str(out), "--key-only"]).exit_code == 0


@pytest.mark.parametrize("view", [["--all"], ["--top", "1", "--key-only", "--sort", "name"]])
def test_the_html_report_on_columns_is_the_one_account_by_account(view: list[str]) -> None:
    """HTML from the review on columns (Pareto curves from its ABC analysis) is the per-account page."""
    import re

    from click.testing import CliRunner

    from kamrules.cli import main

    args = ["portfolio", str(ROOT / "examples" / "portfolio.csv"), "--rules", str(RULES), "--no-audit", "--quiet"]
    pages = []
    for engine in ("durable", "columnar"):
        r = CliRunner().invoke(main, [*args, "--format", "html", "--engine", engine, *view], catch_exceptions=False)
        assert r.exit_code == 0, r.output[-2000:]
        pages.append(re.sub(r"\b[0-9a-f]{12}\b", "RUN", r.stdout))  # the run id differs
    assert pages[0] == pages[1]
    assert pages[1].count("<polyline") == 4  # a Pareto curve for each metric
