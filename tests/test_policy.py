"""Issue 9's policy end to end: observations, invoice signals, selection context, review dates, settings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kamrules.cli import main
from kamrules.inputs import aggregate_invoices, parse_period, read_invoice_lines
from kamrules.inputs.signals import add_signals

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
PORTFOLIO = ROOT / "examples" / "portfolio.csv"
VENETA = ROOT / "examples" / "accounts" / "distribuzione-alimentare-veneta.yaml"


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def invoices(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "lines.csv"
    path.write_text("account,date,amount,margin,invoice\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_hundredfold_growth_is_an_observation_not_an_error(tmp_path):
    """A quarterly revenue from 10.77 to 1,192.97 (growth 109.77, beyond the fact's range) reviews with exit 0."""
    f = invoices(tmp_path, ["C1,2026-05-10,10.77,1,I1", "C1,2026-08-10,1192.97,100,I2", "C2,2026-08-11,50,5,I3"])
    r = run(
        "portfolio",
        f,
        "--transactions",
        "--period",
        "2026Q3",
        "--rules",
        RULES,
        "--format",
        "json",
        "--no-audit",
        "--traces",
    )
    assert r.exit_code == 0, r.output
    acc = {a["account"]: a for a in json.loads(r.stdout)["accounts"]}
    growth = acc["C1"]["decision"]["computed"]["revenue_growth"]
    assert growth["inputs"] == {"revenue": 1192.97, "revenue_previous": 10.77} and round(growth["value"], 2) == 109.77


def test_first_ever_order_has_no_growth_rate_and_says_so(tmp_path):
    """An account whose first line is in the period has no revenue_growth and the note first-order."""
    f = invoices(tmp_path, ["C1,2026-05-10,100,10,I1", "C1,2026-08-10,120,12,I2", "C2,2026-08-11,50,5,I3"])
    r = run(
        "portfolio",
        f,
        "--transactions",
        "--period",
        "2026Q3",
        "--rules",
        RULES,
        "--format",
        "json",
        "--no-audit",
        "--traces",
    )
    assert r.exit_code == 0, r.output
    acc = {a["account"]: a for a in json.loads(r.stdout)["accounts"]}
    c2, c1 = (acc[a]["decision"]["computed"]["revenue_growth"] for a in ("C2", "C1"))
    assert c2["value"] is None and c2["missing"] == {"reason": "missing", "of": "revenue_previous"}
    assert "first-order" in acc["C2"]["notes"] and "first-order" not in acc["C1"]["notes"]
    assert c1["value"] == 0.2


def test_signals_over_several_periods(tmp_path):
    """The trend, days since the last order, order frequency change and margin erosion follow their formulas."""
    f = invoices(
        tmp_path,
        [
            "C1,2025-10-05,100,30,I1",  # P-3
            "C1,2026-01-05,100,30,I2",  # P-2
            "C1,2026-04-05,60,18,I3",  # P-1: margin rate 0.30
            "C1,2026-04-06,60,18,I4",
            "C1,2026-07-20,40,8,I5",  # P: margin rate 0.20
        ],
    )
    p = parse_period("2026Q3")
    lines = read_invoice_lines(f)
    row = add_signals(aggregate_invoices(lines, p), lines, p)[0]
    assert row.facts["revenue_trend"] == pytest.approx((40 + 120) / (100 + 100) - 1)
    assert row.facts["days_since_last_order"] == (p.end - p.start).days - 19
    assert row.facts["order_frequency_change"] == 1 / (4 / 3) - 1
    assert abs(row.facts["margin_erosion"] - 0.10) < 1e-12
    assert "revenue_trend" in row.observed and row.notes == ()


def test_evaluate_without_rank_says_so_and_does_not_designate(tmp_path):
    """An account file with no selection_rank and no --portfolio is not designated, and evaluate says why."""
    text = VENETA.read_text(encoding="utf-8")
    plain = tmp_path / "veneta.yaml"
    plain.write_text("\n".join(x for x in text.splitlines() if "selection_rank" not in x) + "\n", encoding="utf-8")
    r = run("evaluate", plain, "--rules", RULES, "--no-audit")
    assert r.exit_code == 0 and "note: no selection_rank" in r.output and "--portfolio FILE" in r.output
    doc = json.loads(run("evaluate", plain, "--rules", RULES, "--no-audit", "--format", "json").stdout)
    assert doc["key_account"] is False and doc["derived"]["eligible"]["value"] is True


def test_evaluate_takes_its_rank_from_a_portfolio(tmp_path):
    """With --portfolio the account gets the rank it would have among that table's eligible accounts."""
    text = VENETA.read_text(encoding="utf-8")
    plain = tmp_path / "veneta.yaml"
    plain.write_text("\n".join(x for x in text.splitlines() if "selection_rank" not in x) + "\n", encoding="utf-8")
    r = run("evaluate", plain, "--rules", RULES, "--no-audit", "--format", "json", "--portfolio", PORTFOLIO)
    doc = json.loads(r.stdout)
    assert r.exit_code == 0 and isinstance(doc["given"]["selection_rank"], int)
    assert any("--portfolio table" in n for n in doc["notes"])
    assert doc["key_account"] is (doc["given"]["selection_rank"] <= doc["given"]["key_account_capacity"])


def test_one_potential_estimator_for_evaluate_and_portfolio(tmp_path):
    """An account without potential_score gets the same potential from evaluate as from the portfolio review."""
    acc = tmp_path / "a.yaml"
    facts = "  revenue: 110\n  revenue_previous: 100\n  attractiveness: 6\n  share_of_wallet: 0.9\n"
    acc.write_text("account: C1\nfacts:\n" + facts)
    table = tmp_path / "t.csv"
    table.write_text("account,revenue,revenue_previous,attractiveness,share_of_wallet\nC1,110,100,6,0.9\n")
    one = json.loads(run("evaluate", acc, "--rules", RULES, "--no-audit", "--format", "json").stdout)["given"]
    doc = json.loads(run("portfolio", table, "--rules", RULES, "--no-audit", "--format", "json", "--traces").stdout)
    many = doc["accounts"][0]["decision"]["given"]
    assert one["potential_score"] == many["potential_score"] == round((0.6 + 0.6) / 2, 6)
    assert one["potential_confidence"] == many["potential_confidence"] == round(2 / 3, 6)


def test_review_overdue_follows_as_of_and_the_interval():
    """The same last review is overdue 181 days later and not 180 days later (interval 180 in settings.yaml)."""
    base = ["evaluate", VENETA, "--rules", RULES, "--no-audit", "--format", "json"]

    def actions(day: str) -> set:
        return {a["id"] for a in json.loads(run(*base, "--as-of", day).stdout)["actions"]}

    # the example's last review is 2025-11-20: 181 days before 2026-05-20, 180 before 2026-05-19
    assert "schedule-account-review" in actions("2026-05-20")
    assert "schedule-account-review" not in actions("2026-05-19")


def rules_with_capacity(tmp_path: Path, managers: int, per_manager: int) -> Path:
    """A copy of the default rules whose key-account capacity is managers × per_manager."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    s = (rules / "settings.yaml").read_text()
    s = s.replace("kam_managers: 4", f"kam_managers: {managers}").replace(
        "per_manager: 6", f"per_manager: {per_manager}"
    )
    (rules / "settings.yaml").write_text(s)
    return rules


def test_review_lists_next_in_line_and_warns_beyond_capacity(tmp_path):
    """With a capacity of 2 the review designates 2, lists the other eligible accounts by rank and warns."""
    rules = rules_with_capacity(tmp_path, 1, 2)
    r = run("portfolio", PORTFOLIO, "--rules", rules, "--format", "json", "--no-audit")
    sel = json.loads(r.stdout)["summary"]["selection"]
    assert r.exit_code == 0 and sel["capacity"] == 2 and sel["designated"] == 2
    ranks = [e["rank"] for e in sel["next_in_line"]]
    assert ranks == sorted(ranks) and ranks[0] >= 3 and len(ranks) == min(10, sel["eligible"] - 2)
    assert sel["warnings"][0]["code"] == "eligibility-exceeds-capacity"
    text = run("portfolio", PORTFOLIO, "--rules", rules, "--no-audit").output
    assert "Next in line (eligible, left out by capacity)" in text and "Warning:" in text


def test_bad_selection_setting_is_invalid_input(tmp_path):
    """A non-integer kam_managers in settings.yaml is exit 3 naming the file and the key."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    s = (rules / "settings.yaml").read_text()
    (rules / "settings.yaml").write_text(s.replace("kam_managers: 4", "kam_managers: four"))
    r = run("rules", "check", rules)
    assert r.exit_code == 3 and "settings.yaml" in r.output and "kam_managers" in r.output


def test_regions_are_counted_across_key_accounts(tmp_path):
    """Five key accounts each in a different named region give portfolio_regions 5, not 1."""
    rows = ["account,revenue,region,regions"] + [f"C{i},{1000 * (i + 1)},R{i},1" for i in range(5)]
    table = tmp_path / "t.csv"
    table.write_text("\n".join(rows) + "\n")
    doc = json.loads(run("portfolio", table, "--rules", RULES, "--no-audit", "--format", "json").stdout)
    pf = doc["summary"]["portfolio_facts"]
    assert pf["portfolio_key_accounts"] >= 2
    assert pf["portfolio_regions"] == pf["portfolio_key_accounts"]


def test_continuity_keeps_last_periods_key_account_ahead_of_an_equal_newcomer(tmp_path):
    """Of two otherwise equal eligible accounts competing for the last seat, last period's key account is kept."""
    rules = rules_with_capacity(tmp_path, 1, 1)
    table = tmp_path / "t.csv"
    # equal revenue: A and B both class A; a third, small account keeps the ABC curve honest
    table.write_text("account,revenue,previous_key_account\nA,1000,false\nB,1000,true\nC,10,false\n")
    doc = json.loads(run("portfolio", table, "--rules", rules, "--format", "json", "--no-audit").stdout)
    keys = [a["account"] for a in doc["accounts"] if a["key_account"]]
    assert keys == ["B"] and [e["account"] for e in doc["summary"]["review"]["kept"]] == ["B"]
