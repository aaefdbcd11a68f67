"""Acceptance on real data: the quarterly review of the CDNOW transactions (shipped by the PyPI package lifetimes)."""

from __future__ import annotations

import importlib.metadata
import itertools
import json
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
