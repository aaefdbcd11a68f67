"""The review of invoice totals on columns (kam/period_review.py) is the review account by account, byte for byte."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner
from test_columnar import fired_again

from kamrules.cli import main
from kamrules.engine.columnar import RulePlan, rule_column
from kamrules.inputs import read_review_input
from kamrules.inputs.frames import read_review_frame
from kamrules.kam import load_settings, load_structure_rules
from kamrules.kam import review as pf
from kamrules.kam.engines import CrossCheckError
from kamrules.kam.period_review import review_periods
from kamrules.lang import load_ruleset
from kamrules.render.rows import account_row

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
INVOICES = str(ROOT / "examples" / "invoices-it.csv")  # lines dated 2026-04 to 2026-09
MAPPING = "account=Cliente,date=Data,amount=Importo,quantity=Quantità,margin=Margine"
DAY = dt.date(2026, 10, 15)
RUN_ID = re.compile(r"\b[0-9a-f]{12}\b")
# Periods of the example: one against the one before, one whose previous period has no lines, one against
# an earlier period than the one before.
PERIODS = [("2026Q3", None), ("2026Q2", None), ("2026Q3", "2026Q1"), ("2026-09", "2026-07")]
VIEWS = [
    ["--format", "table"],
    ["--format", "markdown", "--all"],
    ["--format", "csv"],
    ["--format", "csv", "--key-only", "--sort", "selection_score"],
    ["--format", "json"],
    ["--format", "json", "--all", "--top", "2"],
    ["--format", "html", "--all"],
    ["--format", "table", "--top", "3", "--sort", "name"],
]


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def _invoices(period: str, previous: str | None, *extra: str) -> list[str]:
    args = ["portfolio", INVOICES, "--transactions", "--columns", MAPPING, "--rules", str(RULES), "--period", period]
    return [*args, *(("--previous", previous) if previous else ()), "--no-audit", "--quiet", *extra]


def _both(args: list[str]) -> dict[str, tuple[int, str]]:
    out = {}
    for engine in ("durable", "columnar"):
        r = _cli(*args, "--engine", engine, "--as-of", str(DAY))
        out[engine] = (r.exit_code, RUN_ID.sub("RUN", r.output))
    return out


@pytest.mark.parametrize("period,previous", PERIODS)
@pytest.mark.parametrize("view", VIEWS, ids=" ".join)
def test_both_engines_write_the_same_invoice_review(period: str, previous: str | None, view: list[str]) -> None:
    """--engine durable (account by account) and the default review on columns write the same bytes."""
    out = _both(_invoices(period, previous, *view))
    assert out["durable"][0] == 0, out["durable"][1][-2000:]
    assert out["durable"] == out["columnar"]


@pytest.mark.parametrize("suffix", [".xlsx", ".parquet"])
def test_workbooks_and_parquet_of_an_invoice_review_are_alike(suffix: str, tmp_path: Path) -> None:
    """--output FILE.xlsx / FILE.parquet of invoice totals on columns holds the cells account by account gives."""
    from openpyxl import load_workbook

    read: dict[str, Any] = {}
    for engine in ("durable", "columnar"):
        out = tmp_path / f"{engine}{suffix}"
        r = _cli(*_invoices("2026Q3", None, "--engine", engine, "--output", str(out), "--as-of", str(DAY)))
        assert r.exit_code == 0, r.output
        if suffix == ".parquet":
            read[engine] = pl.read_parquet(out).to_dicts()
        else:
            book = load_workbook(out, read_only=True)
            read[engine] = {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in book.worksheets}
    assert read["durable"] == read["columnar"]


@pytest.fixture(scope="module")
def rules() -> tuple[Any, Any, Any]:
    return load_ruleset(str(RULES)), load_settings(str(RULES)), load_structure_rules(str(RULES))


def _reviews(
    rules: tuple[Any, Any, Any], path: str, period: str, previous: str | None, columns: str | None
) -> tuple[pf.PortfolioReview, pf.PortfolioReview]:
    ruleset, conf, structure = rules
    rows, before, _ = read_review_input(path, True, period, previous, columns, DAY)
    by_rows = pf.review(rows, ruleset, conf, before, None, None, structure, DAY, "durable", 0)
    rf = read_review_frame(path, True, period, previous, columns, DAY)
    done = review_periods(rf.current, rf.previous, ruleset, conf, structure, DAY)
    assert done is not None, "the column path refused clean invoice totals"
    return by_rows, done.review


def assert_same_review(by_rows: pf.PortfolioReview, on_columns: pf.PortfolioReview) -> None:
    """Every account row, result (previous decision included), summary part and the structure are the row path's."""
    assert on_columns.table is not None
    want = [account_row(a, by_rows.metrics) | {"notes": list(a.notes)} for a in by_rows.accounts]
    assert on_columns.table.to_dicts() == want
    for part in ("metrics", "concentration", "portfolio_facts", "previous_known", "selection", "rules_version"):
        assert getattr(on_columns, part) == getattr(by_rows, part), part
    assert on_columns.structure.to_dict() == by_rows.structure.to_dict()
    assert on_columns.accounts == [a for a in by_rows.accounts if a.decision.key_account]
    for status in ("new", "kept", "lost"):
        assert on_columns.by_status(status) == by_rows.by_status(status), status
    some = [a.decision.account for a in by_rows.accounts[::7]]
    assert on_columns.results_of(some) == by_rows.results_of(some)


@pytest.mark.parametrize("period,previous", PERIODS)
def test_the_example_invoice_review_is_the_row_review(
    period: str, previous: str | None, rules: tuple[Any, Any, Any]
) -> None:
    """Value for value: rows, notes (first-order beside the potential's), results with their previous decisions."""
    by_rows, on_columns = _reviews(rules, INVOICES, period, previous, MAPPING)
    assert_same_review(by_rows, on_columns)


def _lost_rules(tmp_path: Path) -> Path:
    """The shipped rules, revenue the period before making an account eligible (one without revenue now can be key)."""
    folder = tmp_path / "rules"
    shutil.copytree(RULES, folder)
    designation = folder / "designation.yaml"
    text = designation.read_text(encoding="utf-8")
    changes = {
        "        - {fact: abc_revenue, op: eq, value: A}\n": "        - {fact: revenue_previous, op: gt, value: 0}\n",
        "{fact: revenue_growth, op: lte, value: -0.5}": "{fact: revenue_growth, op: lte, value: -5}",  # no collapse
    }
    for old, new in changes.items():
        assert old in text
        text = text.replace(old, new, 1)
    designation.write_text(text, encoding="utf-8")
    return folder


def _lost_invoices(tmp_path: Path) -> Path:
    """A2 buys in Q1 only: key in Q2 (revenue the period before), absent from the Q3 review (no lines in Q2 or Q3)."""
    path = tmp_path / "lines.csv"
    lines = ["account,date,amount,quantity"]
    lines += [f"A1,2026-0{m}-10,{1000 + m}.50,3" for m in range(1, 10)]
    lines += ["A2,2026-02-11,2500.00,4", "A3,2026-05-12,700.25,1", "A3,2026-08-12,800.75,2", "A4,2026-07-01,90,1"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_an_account_key_before_and_absent_now_is_lost_alike(tmp_path: Path) -> None:
    """A key account of the previous period without totals now is lost: its row and entry as the row path's."""
    rules_dir, path = _lost_rules(tmp_path), _lost_invoices(tmp_path)
    ruleset, conf = load_ruleset(str(rules_dir)), load_settings(str(rules_dir))
    structure = load_structure_rules(str(rules_dir))
    by_rows, on_columns = _reviews((ruleset, conf, structure), str(path), "2026Q3", None, None)
    assert_same_review(by_rows, on_columns)
    assert on_columns.table is not None
    lost = on_columns.table.filter(pl.col("review") == "lost")
    assert lost["account"].to_list() == ["A2"] and lost["revenue"].to_list() == [None]
    args = ["portfolio", str(path), "--transactions", "--period", "2026Q3", "--rules", str(rules_dir), "--no-audit"]
    for view in VIEWS:
        out = {}
        for engine in ("durable", "columnar"):
            r = _cli(*args, "--quiet", *view, "--engine", engine)
            out[engine] = (r.exit_code, RUN_ID.sub("RUN", r.output))
        assert out["durable"][0] == 0, out["durable"][1][-2000:]
        assert out["durable"] == out["columnar"], view
    doc = json.loads(_cli(*args, "--quiet", "--format", "json").stdout)
    assert [e["account"] for e in doc["summary"]["review"]["lost"]] == ["A2"]
    assert doc["summary"]["review"]["lost"][0]["previous_rule"] == "key-account-selected"


@pytest.mark.parametrize(
    "case",
    [
        ("--period", "2025Q1"),  # no lines in the period
        ("--period", "2026Q3", "--previous", "2026Q3"),  # the previous period does not come before
        (
            "--period",
            "2026Q5",
        ),  # not a period
    ],
    ids=" ".join,
)
def test_bad_periods_are_the_same_errors(case: tuple[str, ...]) -> None:
    """A period the review cannot take: the same message and exit code on both paths, in text and JSON."""
    base = ["portfolio", INVOICES, "--transactions", "--columns", MAPPING, "--rules", str(RULES), "--no-audit"]
    for fmt in ("table", "json"):
        out = _both([*base, *case, "--quiet", "--format", fmt])
        assert out["durable"][0] in (2, 3), out["durable"]
        assert out["durable"] == out["columnar"]


@pytest.mark.parametrize(
    "lines",
    [
        "account,date,amount\nA1,2026-07-01,100\nA2,2026-07-32,50\n",  # not a date
        "account,date,amount\nA1,2026-07-01,100\n,2026-07-02,50\nA3,2026-07-03,abc\n",  # no id, not an amount
        "account,date\nA1,2026-07-01\n",  # no amount column
        "account,date,amount\n",  # no lines
    ],
)
def test_bad_invoice_lines_are_the_same_errors(lines: str, tmp_path: Path) -> None:
    """Bad invoice lines: every problem with its cell, the same exit code, whichever path reviews them."""
    path = tmp_path / "lines.csv"
    path.write_text(lines, encoding="utf-8")
    base = ["portfolio", str(path), "--transactions", "--period", "2026Q3", "--rules", str(RULES), "--no-audit"]
    for fmt in ("table", "json"):
        out = _both([*base, "--quiet", "--format", fmt])
        assert out["durable"][0] == 3, out["durable"]
        assert out["durable"] == out["columnar"]


def test_the_cross_check_of_the_invoice_review_on_columns_exits_4(monkeypatch: pytest.MonkeyPatch) -> None:
    """The review of invoice totals on columns checks its samples through durable_rules: a dropped rule is exit 4."""
    real = RulePlan.outcome

    def planted(self: RulePlan, frame: Any) -> Any:
        dropped = [pl.lit(False).alias(rule_column(r.id)) for r in self.ruleset.rules if r.id.startswith("eligible-")]
        return real(self, frame).with_columns(*dropped).with_columns(fired_again(self.ordered))

    monkeypatch.setattr(RulePlan, "outcome", planted)
    args = _invoices("2026Q3", None, "--as-of", str(DAY))
    r = _cli(*args)
    assert r.exit_code == 4, r.output[-2000:]
    assert "decided account '" in r.output and "fired:" in r.output
    assert _cli(*args, "--cross-check", "0").exit_code == 0
    ruleset, conf, structure = load_ruleset(str(RULES)), load_settings(str(RULES)), load_structure_rules(str(RULES))
    rf = read_review_frame(INVOICES, True, "2026Q3", None, MAPPING, DAY)
    with pytest.raises(CrossCheckError) as e:  # the columnar review's own sample, not the row path's
        review_periods(rf.current, rf.previous, ruleset, conf, structure, DAY)
    assert e.value.exit_code == 4


def test_a_recorded_invoice_review_verifies_and_explains_an_account(tmp_path: Path) -> None:
    """Every decision on columns is in the log, the lost one absent now too; explain by run says what durable's says."""
    from kamrules.audit import log

    rules_dir, path = _lost_rules(tmp_path), _lost_invoices(tmp_path)
    args = ["portfolio", str(path), "--transactions", "--period", "2026Q3", "--rules", str(rules_dir), "--quiet"]
    explained: dict[str, list[tuple[int, str]]] = {}
    for engine in ("durable", "columnar"):
        db = tmp_path / f"{engine}.db"
        env = {log.ENV_VAR: str(db)}
        r = CliRunner().invoke(main, [*args, "--engine", engine], env=env, catch_exceptions=False)
        assert r.exit_code == 0, r.output
        run = re.search(r", run ([0-9a-f]{12})", r.output)
        assert run, r.output
        assert log.count_decisions(db) == 4 + 1  # A1, A3, A4 now, A2 lost and absent, and the structure decision
        assert CliRunner().invoke(main, ["audit", "verify"], env=env, catch_exceptions=False).exit_code == 0
        explained[engine] = []
        for account in ("A1", "A2", "A4"):
            show = ["audit", "explain", account, "--run", run[1]]
            r = CliRunner().invoke(main, show, env=env, catch_exceptions=False)
            assert r.exit_code == 0 and f"Account {account}" in r.output, r.output
            explained[engine].append((r.exit_code, RUN_ID.sub("RUN", r.output)))
    assert explained["durable"] == explained["columnar"]
