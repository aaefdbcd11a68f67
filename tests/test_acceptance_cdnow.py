"""Acceptance on real data: the quarterly review of the CDNOW transactions (shipped by the PyPI package lifetimes)."""

from __future__ import annotations

import importlib.metadata
import itertools
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from kamrules.cli import main

RULES = Path(__file__).resolve().parent.parent / "rules"
QUARTERS = ["1997Q1", "1997Q2", "1997Q3", "1997Q4", "1998Q1", "1998Q2"]


def _cdnow_file() -> Path:
    """The CDNOW master file inside the installed lifetimes distribution (never imported, never copied here)."""
    try:
        dist = importlib.metadata.distribution("Lifetimes")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("lifetimes==0.11.3 (test extra) is not installed")
    path = Path(str(dist.locate_file("lifetimes/datasets/CDNOW_master.txt")))
    if not path.exists():
        pytest.skip(f"{path} is missing from the lifetimes distribution")
    return path


def cdnow_invoice_csv(out: Path) -> Path:
    """Convert CDNOW (customer id, YYYYMMDD, quantity, amount; whitespace-separated) into an invoice CSV."""
    rows = ["account,date,quantity,amount"]
    for line in _cdnow_file().read_text(encoding="ascii").splitlines():
        parts = line.split()
        if len(parts) != 4 or not parts[1].isdigit():
            continue  # the header line
        cid, day, qty, amount = parts
        rows.append(f"{cid},{day[:4]}-{day[4:6]}-{day[6:]},{qty},{amount}")
    out.write_text("\n".join(rows) + "\n", encoding="ascii")
    return out


@pytest.fixture(scope="module")
def cdnow(tmp_path_factory) -> Path:
    return cdnow_invoice_csv(tmp_path_factory.mktemp("cdnow") / "cdnow.csv")


@pytest.mark.parametrize("previous,period", list(itertools.pairwise(QUARTERS)), ids=lambda q: q)
def test_quarterly_review_runs_and_designates_within_capacity(cdnow, previous, period):
    """Every consecutive pair of quarters reviews with exit 0 and designates no more key accounts than the capacity."""
    r = CliRunner().invoke(
        main,
        [
            *("portfolio", str(cdnow), "--transactions", "--period", period, "--previous", previous),
            *("--rules", str(RULES), "--format", "json", "--no-audit", "--quiet"),
        ],
    )
    assert r.exit_code == 0, r.output[-2000:]
    summary = json.loads(r.stdout)["summary"]
    sel = summary["selection"]
    assert summary["key_accounts"] == sel["designated"] <= sel["capacity"] == 24
    assert sel["eligible"] >= sel["designated"]
    counts = summary["review_counts"]
    assert counts["kept"] + counts["new"] == sel["designated"]


def test_yearly_review_text_is_summary_first_and_short(cdnow):
    """The 1998-against-1997 review of 23,570 customers is under 400 lines and lists every key account by line 40."""
    args = ["portfolio", str(cdnow), "--transactions", "--period", "1998", "--previous", "1997", "--rules", str(RULES)]
    text = CliRunner().invoke(main, [*args, "--no-audit", "--quiet"])
    doc = json.loads(CliRunner().invoke(main, [*args, "--no-audit", "--quiet", "--format", "json"]).stdout)
    assert text.exit_code == 0, text.output[-2000:]
    lines = text.stdout.splitlines()
    assert doc["summary"]["accounts"] > 20_000
    assert len(lines) < 400
    keys = [a["account"] for a in doc["accounts"] if a["key_account"]]
    assert len(keys) == 24
    first40 = "\n".join(lines[:40])
    assert all(f"  {k}  " in first40 for k in keys)


@pytest.mark.parametrize("previous,period", [("1997Q1", "1997Q2"), ("1997", "1998")], ids=lambda q: q)
def test_the_review_on_columns_writes_what_the_row_review_writes(cdnow, previous, period, tmp_path, monkeypatch):
    """Quarterly and yearly: the default review on columns writes the bytes of --engine durable in every format."""
    from openpyxl import load_workbook
    from test_period_review import assert_same_review

    from kamrules.cli import portfolio as command
    from kamrules.inputs import frames
    from kamrules.kam import load_settings, load_structure_rules
    from kamrules.kam.period_review import review_periods
    from kamrules.lang import load_ruleset

    real, kept = command._Rows.review, {}

    def once(self, rows, before, log, stream, progress):
        # The row review is the same for every format (no log, no stream): made once, written in each.
        if "review" not in kept:
            kept["review"] = real(self, rows, before, log, stream, progress)
        return kept["review"]

    def read_once(*args):
        # The lines as read and totalled, the same for each run: read once (either path reads them so).
        if "frame" not in kept:
            kept["frame"] = read_frame(*args)
        return kept["frame"]

    read_frame = frames.read_review_frame
    monkeypatch.setattr(command._Rows, "review", once)
    monkeypatch.setattr(frames, "read_review_frame", read_once)

    def rows_once(*args):
        rf = read_once(*args)
        return rf.rows(), rf.before_rows(), rf.meta

    monkeypatch.setattr(command, "read_review_input", rows_once)
    args = ["portfolio", str(cdnow), "--transactions", "--period", period, "--previous", previous]
    args += ["--rules", str(RULES), "--no-audit", "--quiet"]
    for view in (["--format", "table"], ["--format", "markdown"], ["--format", "csv"], ["--format", "json"]):
        out = [CliRunner().invoke(main, [*args, *view, "--engine", e]) for e in ("durable", "columnar")]
        assert out[0].exit_code == out[1].exit_code == 0, out[0].output[-2000:]
        texts = [re.sub(r"\b[0-9a-f]{12}\b", "RUN", r.output) for r in out]  # the run id differs
        assert texts[0] == texts[1], view
    for suffix in (".html", ".xlsx", ".parquet"):
        files = [tmp_path / f"{e}{suffix}" for e in ("durable", "columnar")]
        for e, f in zip(("durable", "columnar"), files, strict=True):
            assert CliRunner().invoke(main, [*args, "--engine", e, "--output", str(f)]).exit_code == 0
        if suffix == ".xlsx":
            books = [load_workbook(f, read_only=True) for f in files]
            cells = [
                {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in b.worksheets} for b in books
            ]
            assert cells[0] == cells[1]
        elif suffix == ".html":
            pages = [re.sub(r"\b[0-9a-f]{12}\b", "RUN", f.read_text(encoding="utf-8")) for f in files]
            assert pages[0] == pages[1]
        else:
            assert files[0].read_bytes() == files[1].read_bytes(), suffix
    ruleset, conf, structure = load_ruleset(str(RULES)), load_settings(str(RULES)), load_structure_rules(str(RULES))
    rf = kept["frame"]
    done = review_periods(rf.current, rf.previous, ruleset, conf, structure)
    assert done is not None, "the column path refused the CDNOW totals"
    assert_same_review(kept["review"], done.review)
