"""Invoice lines everywhere: the hint for an invoice file, the default period, an unknown previous period, abc."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from kamrules.cli import main

ROOT = Path(__file__).resolve().parent.parent
INVOICES = str(ROOT / "examples" / "invoices-it.csv")  # lines dated 2026-04 to 2026-09
COLUMNS = ("--columns", "account=Cliente,date=Data,amount=Importo,quantity=Quantità,margin=Margine")
RULES = ("--rules", str(ROOT / "rules"))


def _run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_invoice_file_without_transactions_is_one_error_with_the_hint():
    """An invoice export given as an account table is exit 3 with one problem that says --transactions."""
    r = _run("portfolio", INVOICES, *COLUMNS, *RULES, "--no-audit", "--quiet")
    assert r.exit_code == 3
    assert "found 1 problem in 1 file" in r.output
    assert "holds invoice lines" in r.output and "add --transactions" in r.output


def test_abc_reads_invoice_lines_with_transactions():
    """abc --transactions aggregates the lines per account and classifies the period's revenue."""
    args = ("abc", INVOICES, "--transactions", "--period", "2026Q3", *COLUMNS, *RULES, "--format", "json")
    r = _run(*args)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["metric"] == "revenue" and sum(doc["counts"].values()) == len(doc["accounts"]) > 0
    plain = _run("abc", INVOICES, *COLUMNS, *RULES)
    assert plain.exit_code == 3 and "add --transactions" in plain.output


def _review(*extra: str) -> tuple[dict, str]:
    args = ("portfolio", INVOICES, "--transactions", *COLUMNS, *RULES, "--no-audit", "--quiet", *extra)
    return json.loads(_run(*args, "--format", "json").stdout), _run(*args).stdout


def test_without_period_the_latest_complete_quarter_is_reviewed_and_said():
    """With no --period, reviewed on 2026-10-15, the period is 2026Q3 against 2026Q2, and the text says why."""
    doc, text = _review("--as-of", "2026-10-15")
    assert doc["input"]["period"] == "2026Q3" and doc["input"]["previous_period"] == "2026Q2"
    assert "No --period given: reviewing the latest complete quarter, 2026Q3, against the one before, 2026Q2." in text


def test_a_quarter_still_running_is_not_complete():
    """Reviewed on 2026-09-15, 2026Q3 is not over: the review takes 2026Q2."""
    doc, _ = _review("--as-of", "2026-09-15")
    assert doc["input"]["period"] == "2026Q2"


def test_previous_period_without_lines_makes_changes_unknown_with_a_warning():
    """2026Q2 against 2026Q1 (no lines): new/kept/lost is unknown, not 'all new', and a warning says so."""
    doc, text = _review("--period", "2026Q2")
    summary = doc["summary"]
    assert summary["key_accounts"] > 0
    assert summary["previous_designation_known"] is False
    assert all(not summary["review"][s] for s in ("new", "kept", "lost"))
    assert "Against previous period:   unknown: no invoice lines in the previous period 2026Q1" in text
    assert "Warning:" in text and "new/kept/lost is unknown" in text
