"""The portfolio review and the ABC command, end to end through the command line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kamrules.cli import main
from kamrules.engine.reference import reference_fired
from kamrules.errors import Span
from kamrules.kam import estimate, load_structure_rules
from kamrules.kam.structure import recommend_structure
from kamrules.lang import fact_value_problem, load_ruleset

ROOT = Path(__file__).resolve().parent.parent
RULES = str(ROOT / "rules")
PORTFOLIO = str(ROOT / "examples" / "portfolio.csv")
INVOICES = str(ROOT / "examples" / "invoices-it.csv")
IT_COLUMNS = "account=Cliente,date=Data,amount=Importo,quantity=Quantità,margin=Margine"
# The Italian invoice lines reviewed for 2026Q3 against 2026Q2, as JSON.
Q3_INVOICE_ARGS = (
    *("--rules", RULES, "--transactions", "--period", "2026Q3", "--previous", "2026Q2"),
    *("--columns", IT_COLUMNS, "--format", "json"),
)


def _run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _check_review(doc: dict) -> dict:
    review = doc["summary"]["review"]
    for status in ("new", "kept", "lost"):
        assert review[status], f"no {status} key accounts in the example"
        for e in review[status]:
            assert e["why"] and e["rule"]
            if status != "lost":
                assert e["reasons"] and e["reasons"][0]["rule"] == e["rule"]
    structure = doc["summary"]["structure"]
    assert structure["recommended"] in ("base", "advanced")
    assert structure["reasons"] and structure["reasons"][0]["rule"] == structure["rule"]
    assert structure["reasons"][0]["conditions"]
    return review


def test_portfolio_account_table_json():
    """The account table example names new, kept and lost key accounts with reasons and an advanced structure."""
    r = _run("portfolio", PORTFOLIO, "--rules", RULES, "--format", "json", "--traces")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    review = _check_review(doc)
    assert {e["account"] for e in review["lost"]} == {"C1024", "C1030"}
    assert doc["summary"]["structure"]["recommended"] == "advanced"
    assert len(doc["accounts"]) == 30
    acc = {a["account"]: a for a in doc["accounts"]}
    assert acc["C1008"]["abc"]["revenue"]["class"] == "C"  # negative revenue is always class C
    assert acc["C1001"]["decision"]["given"]["abc_revenue"] == acc["C1001"]["abc"]["revenue"]["class"]


def test_portfolio_italian_invoices():
    """Semicolon, decimal-comma, BOM invoice lines with Italian columns are reviewed against the previous quarter."""
    r = _run("portfolio", INVOICES, *Q3_INVOICE_ARGS)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["input"]["period"] == "2026Q3" and doc["input"]["previous_period"] == "2026Q2"
    review = _check_review(doc)
    assert "Vetrerie Muranesi" in {e["account"] for e in review["kept"]}
    for e in review["lost"]:
        assert e["previous_rule"].startswith("key-account-")


def test_portfolio_text_formats():
    """Table and Markdown with --all, and CSV, carry every account and the summary."""
    for fmt, marker in (("table", "Structure"), ("markdown", "## Structure"), ("csv", "account,name,revenue")):
        r = _run("portfolio", PORTFOLIO, "--rules", RULES, "--format", fmt, "--quiet", "--all")
        assert r.exit_code == 0, r.output
        assert marker in r.output and "C1001" in r.output


def test_abc_json_fields_and_classes(tmp_path):
    """abc --format json gives account, value, rank, share, cumulative_share and class, ties by id, negatives in C."""
    f = tmp_path / "t.csv"
    f.write_text("account,revenue\nb,50\na,50\nc,-5\nd,0\ne,900\n", encoding="utf-8")
    r = _run("abc", str(f), "--metric", "revenue", "--rules", RULES, "--format", "json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)["accounts"]
    assert set(rows[0]) == {"account", "value", "rank", "share", "cumulative_share", "class"}
    assert [(x["account"], x["rank"], x["class"]) for x in rows] == [
        ("e", 1, "A"),
        ("a", 2, "B"),
        ("b", 3, "C"),
        ("d", 4, "C"),
        ("c", 5, "C"),
    ]
    assert rows[0]["share"] == "0.9" and rows[1]["cumulative_share"] == "0.95"


def test_abc_plot_and_computed(tmp_path):
    """The computed method classes positive values and --plot writes the Pareto chart."""
    f = tmp_path / "t.csv"
    f.write_text(
        "account,revenue\n" + "".join(f"x{i},{v}\n" for i, v in enumerate([500, 200, 100, 50, 20, 10, 5, 1])),
        encoding="utf-8",
    )
    svg = tmp_path / "p.svg"
    r = _run("abc", str(f), "--method", "computed", "--plot", str(svg), "--rules", RULES, "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["accounts"][0]["class"] == "A" and doc["accounts"][-1]["class"] == "C"
    assert svg.read_text().startswith("<?xml")


def test_bad_row_is_exit_3_with_file_row_column(tmp_path):
    """A bad cell stops the review with exit 3 and names file, row and column."""
    f = tmp_path / "bad.csv"
    f.write_text("account,revenue,margin\nX1,100,10\nX3,50,#DIV/0!\n", encoding="utf-8")
    r = _run("portfolio", str(f), "--rules", RULES)
    assert r.exit_code == 3
    assert f"{f}:3:3" in r.output


def test_value_out_of_schema_is_exit_3(tmp_path):
    """A value the schema refuses never reaches the engine: exit 3 naming file, row and fact."""
    f = tmp_path / "bad.csv"
    f.write_text("account,revenue,trust_score\nX1,100,7\nX2,lots,5\nX3,10,11\n", encoding="utf-8")
    r = _run("portfolio", str(f), "--rules", RULES)
    assert r.exit_code == 3
    assert f"{f}:3:" in r.output and "'revenue'" in r.output
    assert f"{f}:4:" in r.output and "'trust_score'" in r.output


def test_potential_confidence_drops_with_missing_inputs():
    """Missing potential inputs lower the confidence instead of being invented."""
    full = estimate({"revenue_growth": 0.5, "revenue_trend": 0.25, "attractiveness": 8})
    assert full.confidence == 1.0 and full.score == round((1.0 + 0.75 + 0.8) / 3, 6)
    part = estimate({"attractiveness": 8})
    assert part.confidence == round(1 / 3, 6) and part.score == 0.8 and set(part.missing) == {"trend", "sustained"}


def test_share_of_wallet_is_not_lost_potential():
    """Raising share of wallet never lowers the potential estimate (it is relationship depth, not headroom)."""
    low = estimate({"revenue_growth": 0.1, "share_of_wallet": 0.1, "attractiveness": 6})
    high = estimate({"revenue_growth": 0.1, "share_of_wallet": 0.9, "attractiveness": 6})
    assert low == high
    assert estimate({}).score is None


def test_portfolio_run_is_recorded_in_one_intact_chain(tmp_path):
    """Every account of a portfolio run is recorded, then the structure as one portfolio decision; the log verifies."""
    db = str(tmp_path / "log.sqlite")
    r = _run("portfolio", PORTFOLIO, "--rules", RULES, "--format", "json", "--audit-db", db)
    doc = json.loads(r.stdout)
    accounts = [a["account"] for a in doc["accounts"]]
    listed = json.loads(_run("audit", "list", "--audit-db", db, "--format", "json").stdout)
    assert [e["account"] for e in listed] == [*accounts, "portfolio"]
    shown = [
        json.loads(_run("audit", "show", e["decision_id"], "--audit-db", db, "--format", "json").stdout) for e in listed
    ]
    assert [s["kind"] for s in shown] == ["account"] * len(accounts) + ["portfolio"]
    portfolio = shown[-1]
    assert portfolio["given"] == doc["summary"]["portfolio_facts"]
    assert portfolio["decision"]["structure"]["rule"] == doc["summary"]["structure"]["rule"]
    assert portfolio["firings"] == doc["summary"]["structure"]["reasons"]
    assert portfolio["rules_version"] == load_ruleset(ROOT / "rules" / "portfolio").version != doc["rules_version"]
    assert _run("audit", "verify", "--audit-db", db).exit_code == 0
    replay = _run("audit", "replay", portfolio["decision_id"], "--audit-db", db)
    assert replay.exit_code == 0 and "identical" in replay.stdout
    backtest = json.loads(_run("audit", "backtest", "--rules", RULES, "--audit-db", db, "--format", "json").stdout)
    assert (backtest["decisions"], backtest["skipped"]) == (len(accounts), [])  # account decisions only


def test_portfolio_no_audit_records_nothing(tmp_path):
    """--no-audit leaves no decision log behind."""
    db = tmp_path / "log.sqlite"
    _run("portfolio", PORTFOLIO, "--rules", RULES, "--audit-db", str(db), "--no-audit")
    assert not db.exists()


def test_abc_rank_and_shares_become_facts():
    """Each metric's ABC rank, share and cumulative share reach the rules as facts beside the class."""
    doc = json.loads(
        _run("portfolio", PORTFOLIO, "--rules", RULES, "--format", "json", "--no-audit", "--traces").stdout
    )
    for acc in doc["accounts"]:
        given, abc = acc["decision"]["given"], acc["abc"]["revenue"]
        assert given["abc_revenue_rank"] == abc["rank"]
        assert given["abc_revenue_share"] == float(abc["share"])
        assert given["abc_revenue_cumulative_share"] == float(abc["cumulative_share"])


def test_column_that_is_no_fact_is_reported_once_at_its_header(tmp_path):
    """A misspelt column is one error at its header cell, with a did-you-mean, not one per row."""
    f = tmp_path / "t.csv"
    f.write_text("account,revenue,trust_scor\nA1,100,5\nA2,200,6\nA3,300,7\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["portfolio", str(f), "--rules", RULES, "--no-audit"])
    assert r.exit_code == 3
    assert r.stderr.count("error:") == 1
    assert f"{f}:1:3: error: column 'trust_scor' is not a fact" in r.stderr
    assert "did you mean 'trust_score'?" in r.stderr


def test_period_without_invoice_lines_is_an_error():
    """Asking for a period the invoice file does not cover is exit 3 naming the dates the file has."""
    r = CliRunner().invoke(
        main,
        [
            "portfolio",
            INVOICES,
            "--rules",
            RULES,
            "--transactions",
            "--period",
            "2030Q3",
            "--columns",
            IT_COLUMNS,
            "--no-audit",
        ],
    )
    assert r.exit_code == 3
    assert "no invoice lines in 2030Q3" in r.stderr and "found lines from 2026-" in r.stderr


def test_portfolio_from_xlsx_invoice_lines(tmp_path):
    """Invoice lines in a workbook, with real dates and numbers in the cells, are reviewed like the CSV export."""
    import datetime as dt

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    with open(INVOICES, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    ws.append(rows[0])
    for name, day, amount, qty, margin in rows[1:]:
        d, m, y = map(int, day.split("/"))
        ws.append(
            [name, dt.datetime(y, m, d), float(amount.replace(",", ".")), int(qty), float(margin.replace(",", "."))]
        )
    book = tmp_path / "invoices.xlsx"
    wb.save(book)
    args = [*Q3_INVOICE_ARGS, "--no-audit", "--traces"]
    from_csv = json.loads(_run("portfolio", INVOICES, *args).stdout)
    from_xlsx = json.loads(_run("portfolio", str(book), *args).stdout)
    assert from_xlsx["summary"]["review"] == from_csv["summary"]["review"]
    assert [a["decision"]["fired"] for a in from_xlsx["accounts"]] == [
        a["decision"]["fired"] for a in from_csv["accounts"]
    ]


def _structure_cases():
    for path in sorted((ROOT / "tests" / "cases" / "portfolio").glob("*.yaml")):
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]:
            yield pytest.param(case, id=f"{path.stem}:{case['name']}")


STRUCTURE_CASES = list(_structure_cases())


@pytest.fixture(scope="module")
def structure_rules():
    return load_structure_rules(RULES)


@pytest.mark.parametrize("case", STRUCTURE_CASES)
def test_structure_case(case, structure_rules):
    """The portfolio rules fire on a case's portfolio facts exactly the rules the case states, as the reference does."""
    for name, value in case["facts"].items():
        problem = fact_value_problem(structure_rules, name, value, Span("case"), Span("case"), "case")
        assert problem is None, problem.headline()
    fired = recommend_structure(case["facts"], structure_rules).decision.fired
    assert sorted(fired) == sorted(case["expect"]["fired"])
    assert set(fired) == reference_fired(structure_rules, case["facts"])[0]


def test_every_structure_rule_fires_in_some_case(structure_rules):
    """Each portfolio rule is exercised by a case in tests/cases/portfolio/."""
    fired = {f for p in STRUCTURE_CASES for f in p.values[0]["expect"]["fired"]}
    assert sorted(r.id for r in structure_rules.rules if r.id not in fired) == []


def test_account_rules_have_no_structure_rules(ruleset):
    """The structure rules are their own rule set: the account rules neither hold them nor declare portfolio facts."""
    assert not [r.id for r in ruleset.rules if r.structure]
    assert not [f for f in ruleset.facts if f.startswith("portfolio_")]


def test_portfolio_regions_counts_distinct_regions_of_key_accounts(tmp_path):
    """portfolio_regions is the number of distinct 'region' values among the key accounts, absent without them."""
    with open(PORTFOLIO, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    table = tmp_path / "regions.csv"
    with table.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[*rows[0], "region"])
        w.writeheader()
        w.writerows({**row, "region": f"R{i % 7}"} for i, row in enumerate(rows))
    doc = json.loads(_run("portfolio", str(table), "--rules", RULES, "--format", "json", "--no-audit").stdout)
    region = {row["account"]: f"R{i % 7}" for i, row in enumerate(rows)}
    keys = {region[a["account"]] for a in doc["accounts"] if a["key_account"]}
    assert 1 < len(keys) == doc["summary"]["portfolio_facts"]["portfolio_regions"]
    plain = json.loads(_run("portfolio", PORTFOLIO, "--rules", RULES, "--format", "json", "--no-audit").stdout)
    assert "portfolio_regions" not in plain["summary"]["portfolio_facts"]


def test_table_without_revenue_warns(tmp_path):
    """A table with no revenue column is reviewed with a warning that no account has a revenue ABC class."""
    table = tmp_path / "norev.csv"
    table.write_text("account,volume,purchases\nA,10,3\nB,20,4\n")
    result = CliRunner().invoke(main, ["portfolio", str(table), "--no-audit", "--rules", str(ROOT / "rules")])
    assert result.exit_code == 0, result.output
    assert "Warning:" in result.output and "the table has no revenue" in result.output
