"""`kamrules portfolio --format json`: every account as its row (written from columns), full traces with --traces."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kamrules.audit import log
from kamrules.cli import main
from kamrules.inputs.frames import read_account_frame
from kamrules.kam import load_settings, load_structure_rules
from kamrules.kam import review as pf
from kamrules.lang import load_ruleset
from kamrules.render import columns
from kamrules.render.rows import account_row

ROOT = Path(__file__).resolve().parent.parent
RULES = str(ROOT / "rules")
PORTFOLIO = ROOT / "examples" / "portfolio.csv"
BASE = ["portfolio", str(PORTFOLIO), "--rules", RULES, "--quiet", "--as-of", "2026-09-30"]


def _doc(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    r = CliRunner().invoke(main, [*BASE, "--format", "json", *args], env=env, catch_exceptions=False)
    assert r.exit_code == 0, r.output[-2000:]
    doc: dict[str, Any] = json.loads(r.stdout)
    return doc


def test_each_account_is_its_row_of_the_account_table() -> None:
    """The rows are account_row's, account by account through durable_rules, with notes; empty text is null."""
    rs, conf, structure = load_ruleset(RULES), load_settings(RULES), load_structure_rules(RULES)
    import datetime as dt

    rows = read_account_frame(PORTFOLIO).rows()
    rv = pf.review(rows, rs, conf, None, None, None, structure, dt.date(2026, 9, 30), "durable", 0)
    want = [
        {k: (None if v == "" and k != "account" else v) for k, v in account_row(a, rv.metrics).items()}
        | {"notes": list(a.notes)}
        for a in rv.accounts
    ]
    doc = _doc("--no-audit")
    assert doc["accounts_as"] == "rows" and doc["run"] is None
    assert doc["accounts"] == want
    assert doc["summary"]["accounts"] == len(want) == 30
    assert doc["summary"]["key_accounts"] == sum(1 for r in want if r["key_account"])


def test_the_rows_agree_with_the_csv() -> None:
    """A script reading the JSON sees the CSV's accounts, in the same order, with the same values."""
    r = CliRunner().invoke(main, [*BASE, "--format", "csv", "--no-audit"], catch_exceptions=False)
    table = list(csv.DictReader(r.stdout.splitlines()))
    doc = _doc("--no-audit")
    assert [a["account"] for a in doc["accounts"]] == [t["account"] for t in table]
    for a, t in zip(doc["accounts"], table, strict=True):
        for k, cell in t.items():
            v = a[k]
            assert cell == ("" if v is None else str(v)), (a["account"], k)


@pytest.mark.parametrize("view", [[], ["--key-only", "--sort", "selection_score"], ["--top", "1"], ["--all"]])
def test_both_engines_write_the_same_json(view: list[str]) -> None:
    """--engine durable (account by account) and the columnar review write the same JSON bytes."""
    out = {}
    for engine in ("durable", "columnar"):
        r = CliRunner().invoke(main, [*BASE, "--format", "json", "--no-audit", "--engine", engine, *view])
        assert r.exit_code == 0, r.output[-2000:]
        out[engine] = r.stdout
    assert out["durable"] == out["columnar"]


def test_new_kept_and_lost_follow_top_and_all_with_their_counts() -> None:
    """The summary lists the first --top of each group by revenue (all with --all) and counts every one."""
    rows = _doc("--no-audit", "--all")["accounts"]
    revenue = {a["account"]: a["revenue"] for a in rows}
    top = _doc("--no-audit", "--top", "2")["summary"]
    every = _doc("--no-audit", "--all")["summary"]
    for status in ("new", "kept", "lost"):
        members = [a["account"] for a in rows if a["review"] == status]
        assert top["review_counts"][status] == every["review_counts"][status] == len(members) > 0
        by_revenue = sorted(members, key=lambda i: (-revenue[i], i))
        assert [e["account"] for e in top["review"][status]] == by_revenue[:2]
        assert [e["account"] for e in every["review"][status]] == by_revenue
        assert all(e["why"] for e in top["review"][status])  # why each one is (no longer) a key account


def test_traces_give_every_accounts_whole_decision() -> None:
    """--traces: each account's facts, ABC shares, potential and decision with each condition's observed value."""
    doc = _doc("--no-audit", "--traces")
    assert doc["accounts_as"] == "traces" and len(doc["accounts"]) == 30
    first = doc["accounts"][0]
    assert first["abc"]["revenue"]["share"] and first["decision"]["given"]["revenue"] == 53789.13
    conditions = [c for reason in first["decision"]["reasons"] for c in reason["conditions"]]
    assert conditions and all("observed" in c for c in conditions)
    r = CliRunner().invoke(main, [*BASE, "--format", "csv", "--traces", "--no-audit"])
    assert r.exit_code == 2 and "--traces applies to the JSON format only" in r.output


def test_the_run_in_the_document_finds_each_accounts_trace(tmp_path: Path) -> None:
    """The document names its run; `audit explain ACCOUNT --run RUN` recomputes that account's whole decision."""
    env = {log.ENV_VAR: str(tmp_path / "log.db")}
    doc = _doc(env=env)
    assert isinstance(doc["run"], str) and len(doc["run"]) == 12
    r = CliRunner().invoke(main, ["audit", "explain", "C1003", "--run", doc["run"]], env=env, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "C1003" in r.output and "key-account-selected" in r.output


def test_a_json_file_is_written_a_slice_at_a_time(tmp_path: Path) -> None:
    """--output FILE.json in slices of rows is the document printed on standard output."""
    printed = _doc("--no-audit")
    out = tmp_path / "review.json"
    old, columns.SLICE = columns.SLICE, 7  # several slices on 30 accounts
    try:
        r = CliRunner().invoke(main, [*BASE, "--no-audit", "--output", str(out)], catch_exceptions=False)
    finally:
        columns.SLICE = old
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text(encoding="utf-8")) == printed


def test_names_with_quotes_control_characters_and_line_separators_come_back_as_written(tmp_path: Path) -> None:
    """Whatever a CRM put in a name, the JSON reads back the same text."""
    names = ['Rossi "Il Forno" S.r.l.', "Tab\there", "Unit\x1fseparator", "Line\u2028separator", "Ça, c'est ß\\"]
    lines = PORTFOLIO.read_text(encoding="utf-8").splitlines()
    head = next(csv.reader([lines[0]]))
    rows = [dict(zip(head, row, strict=True)) for row in csv.reader(lines[1:])]
    for row, name in zip(rows, names, strict=False):
        row["name"] = name
    table = tmp_path / "names.csv"
    with table.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=head)
        w.writeheader()
        w.writerows(rows)
    r = CliRunner().invoke(
        main, ["portfolio", str(table), "--rules", RULES, "--format", "json", "--no-audit", "--quiet"]
    )
    assert r.exit_code == 0, r.output[-2000:]
    got = [a["name"] for a in json.loads(r.stdout)["accounts"]][: len(names)]
    assert got == names
