"""The review a KAM director reads: summary first, options that choose what is shown, files by extension."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from kamrules.cli import main
from kamrules.render.export import neutral

ROOT = Path(__file__).resolve().parent.parent
PORTFOLIO = str(ROOT / "examples" / "portfolio.csv")
RULES = str(ROOT / "rules")
BASE = ("portfolio", PORTFOLIO, "--rules", RULES, "--no-audit", "--quiet")


def _run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input)


@pytest.fixture(scope="module")
def doc() -> dict:
    """The example portfolio's JSON document: the figures every other output must agree with."""
    return json.loads(_run(*BASE, "--format", "json").stdout)


def _key_ids(doc: dict) -> list[str]:
    return [a["account"] for a in doc["accounts"] if a["key_account"]]


def test_text_starts_with_the_summary_then_the_key_accounts(doc):
    """The text names the counts, capacity and changes first, then every key account, before new/kept/lost."""
    out = _run(*BASE).stdout
    lines = out.splitlines()
    summary = doc["summary"]
    assert lines.index("Summary") < 8
    assert f"Key accounts:              {summary['key_accounts']} of capacity 24" in out
    n = {s: len(summary["review"][s]) for s in ("new", "kept", "lost")}
    assert f"new {n['new']}, kept {n['kept']}, lost {n['lost']}" in out
    key_at = lines.index(f"Key accounts ({summary['key_accounts']})")
    new_at = next(i for i, line in enumerate(lines) if line.startswith("New key accounts"))
    table = "\n".join(lines[key_at:new_at])
    assert all(k in table for k in _key_ids(doc))
    assert max(len(line) for line in lines[key_at:new_at]) <= 120


def test_labels_units_and_numbers_are_for_people():
    """Column titles are the facts' labels with units; numbers have thousands separators, booleans are yes/no."""
    out = _run(*BASE, "--all").stdout
    assert "Revenue (EUR)" in out and "First action" in out and "abc_revenue" not in out
    assert "1,173,671" in out  # C1013's revenue
    assert "False" not in out and "True" not in out


def test_labels_come_from_facts_yaml(tmp_path):
    """A label changed in facts.yaml is the column title of the review."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    facts = rules / "facts.yaml"
    facts.write_text(facts.read_text(encoding="utf-8").replace("label: Revenue\n", "label: Fatturato\n", 1))
    out = _run("portfolio", PORTFOLIO, "--rules", str(rules), "--no-audit", "--quiet").stdout
    assert "Fatturato (EUR)" in out and "Revenue (EUR)" not in out


def test_top_limits_each_group_and_says_how_many_more(doc):
    """--top 2 lists two accounts per group, the largest revenues first, and 'and N more' for the rest."""
    out = _run(*BASE, "--top", "2").stdout
    kept = doc["summary"]["review"]["kept"]
    assert f"and {len(kept) - 2} more (--all lists them)" in out
    revenue = {a["account"]: a["revenue"] for a in doc["accounts"]}
    top2 = sorted(kept, key=lambda e: -revenue[e["account"]])[:2]
    section = out.split("Kept key accounts")[1].split("Lost key accounts")[0]
    shown = [e["account"] for e in kept if e["account"] in section]
    assert sorted(shown) == sorted(e["account"] for e in top2)


def test_all_lists_every_account():
    """Without --all the non-key accounts are left out; with --all every account is listed."""
    assert "C1001" not in _run(*BASE).stdout
    assert "C1001" in _run(*BASE, "--all").stdout


def test_key_only_and_sort_shape_the_csv(doc):
    """--key-only keeps the key accounts; --sort revenue orders them largest first."""
    rows = list(csv.DictReader(io.StringIO(_run(*BASE, "--format", "csv", "--key-only", "--sort", "revenue").stdout)))
    assert sorted(r["account"] for r in rows) == sorted(_key_ids(doc))
    revenues = [float(r["revenue"]) for r in rows]
    assert revenues == sorted(revenues, reverse=True)


def test_sort_rejects_an_unknown_field():
    """--sort with a field the rows do not have is a usage error (exit 2) naming the choices."""
    r = _run(*BASE, "--sort", "turnover")
    assert r.exit_code == 2 and "revenue" in r.output


@pytest.mark.parametrize(
    "ext,marker",
    [(".txt", "Summary\n"), (".md", "## Summary"), (".csv", "account,name,revenue"), (".json", '"summary"')],
)
def test_output_format_follows_the_extension(tmp_path, ext, marker):
    """--output FILE writes the format its extension names, and says where on stderr."""
    out = tmp_path / f"review{ext}"
    r = _run(*BASE, "--output", str(out))
    assert r.exit_code == 0, r.output
    assert marker in out.read_text(encoding="utf-8")
    assert r.stdout == "" and f"wrote {out}" in r.stderr


def test_output_with_an_unknown_extension_is_a_usage_error(tmp_path):
    """--output review.pdf is exit 2 and lists the extensions that work."""
    r = _run(*BASE, "--output", str(tmp_path / "review.pdf"))
    assert r.exit_code == 2 and ".xlsx" in r.output


def test_dash_reads_the_table_from_standard_input(doc):
    """FILE - reads the account table from standard input, with the same review as from the file."""
    data = Path(PORTFOLIO).read_text(encoding="utf-8")
    r = _run("portfolio", "-", "--rules", RULES, "--no-audit", "--quiet", "--format", "json", input=data)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["summary"] == doc["summary"]


def test_a_bad_row_on_standard_input_names_stdin():
    """A bad cell read from standard input is exit 3 at <stdin>:row:column."""
    data = "account,revenue\nA1,100\nA2,lots\n"
    r = _run("portfolio", "-", "--rules", RULES, "--no-audit", "--quiet", input=data)
    assert r.exit_code == 3
    assert r.output.startswith("<stdin>:3:")


def test_xlsx_has_a_summary_and_an_accounts_sheet(tmp_path, doc):
    """--output review.xlsx writes a Summary sheet and an Accounts sheet with one row per account."""
    out = tmp_path / "review.xlsx"
    assert _run(*BASE, "--output", str(out)).exit_code == 0
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["Summary", "Accounts"]
    labels = [row[0] for row in wb["Summary"].iter_rows(values_only=True)]
    assert "Key accounts" in labels and "Against previous period" in labels
    rows = list(wb["Accounts"].iter_rows(values_only=True))
    assert rows[0][:3] == ("Account", "Name", "Revenue (EUR)")
    assert len(rows) - 1 == doc["summary"]["accounts"]
    assert all(isinstance(r[2], (int, float)) for r in rows[1:])  # numbers stay numbers


@pytest.mark.parametrize("text", ["=HYPERLINK(1)", "+1", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_a_cell_that_starts_a_formula_is_neutralised(text):
    """Text starting with =, +, -, @, tab or CR gets a leading apostrophe; numbers are left alone."""
    assert neutral(text) == "'" + text
    assert neutral(-2.5) == -2.5 and neutral("Acme") == "Acme"


def test_formula_names_are_neutralised_in_csv_and_xlsx(tmp_path):
    """Customer names from a CRM that start a formula are text in both the CSV and the XLSX output."""
    table = tmp_path / "crm.csv"
    with open(PORTFOLIO, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    evil = ['=HYPERLINK("http://x")', "+cmd|' /C calc'!A0", "-Acme+1", "@SUM(A1)"]
    for row, name in zip(rows, evil, strict=False):
        row["name"] = name
    with open(table, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    args = ("portfolio", str(table), "--rules", RULES, "--no-audit", "--quiet")
    r = _run(*args, "--format", "csv")
    assert r.exit_code == 0, r.output
    names = {row["name"] for row in csv.DictReader(io.StringIO(r.stdout))}
    assert {"'" + n for n in evil} <= names
    out = tmp_path / "crm.xlsx"
    assert _run(*args, "--output", str(out)).exit_code == 0
    cells = {c for row in openpyxl.load_workbook(out)["Accounts"].iter_rows(values_only=True) for c in row}
    assert {"'" + n for n in evil} <= cells
    assert not any(isinstance(c, str) and c.startswith("=") for c in cells)


def test_html_is_one_file_without_external_references(tmp_path):
    """--output review.html is one document: styles and script inline, charts as SVG, nothing fetched."""
    out = tmp_path / "review.html"
    assert _run(*BASE, "--output", str(out)).exit_code == 0
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "<script>" in html
    for ref in ("src=", "href=", "@import", "url("):
        assert ref not in html
    assert '<th scope="col"' in html and "<caption>" in html and "<title id=" in html


@pytest.mark.parametrize(
    "command",
    [
        ("evaluate", str(ROOT / "examples" / "accounts" / "meccanica-torinese.yaml"), "--no-audit"),
        ("explain", str(ROOT / "examples" / "accounts" / "distribuzione-alimentare-veneta.yaml")),
    ],
    ids=["evaluate", "explain"],
)
def test_evaluate_and_explain_write_html(command):
    """evaluate and explain --format html give a page with the account's rules and their conditions."""
    r = _run(*command, "--rules", RULES, "--format", "html")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("<!DOCTYPE html>") and "Threshold" in r.stdout and "Observed" in r.stdout
