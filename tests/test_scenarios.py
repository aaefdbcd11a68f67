"""Scenarios: loading with positions, simulation, Monte Carlo, and expectations run as tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kamrules.cli import main
from kamrules.errors import InvalidInput
from kamrules.lang import ALL_STAGES
from kamrules.render.scenarios import clamp_text, outcome_line
from kamrules.scenarios import check, load_scenario, monte_carlo, run_tests, simulate

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
BAD = Path(__file__).parent / "data" / "bad_scenarios"
BAD_FILES = sorted(BAD.glob("*.yaml"))


@pytest.fixture
def in_root(monkeypatch):
    # Scenario paths (rules:, account_file:) resolve against the current directory, as documented.
    monkeypatch.chdir(ROOT)


def _scenario(tmp_path: Path, body: str, name: str = "tmp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(body.replace("RULES", str(ROOT / "rules")), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- shipped scenarios


def test_shipped_scenarios_pass(in_root):
    """Every expectation of every shipped scenario holds under the default rules."""
    report = run_tests(["scenarios"])
    failures = [outcome_line(o) for o in report.outcomes if not o.passed]
    assert failures == []
    assert report.passed > 50


def test_cli_test_passes_on_shipped_scenarios(in_root):
    """`kamrules test` with no path runs scenarios/, prints PASS lines and the summary, and exits 0."""
    result = CliRunner().invoke(main, ["test"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert all(line.startswith("PASS ") for line in lines[:-1])
    assert lines[-1] == f"{len(lines) - 1} passed, 0 failed"
    assert "PASS full-path period 2027Q2 stage = mid-KAM" in lines


def test_shipped_scenarios_visit_every_stage_and_move(in_root):
    """Together the shipped scenarios go through every stage and every kind of move, uncoupling included."""
    stages, moves = set(), set()
    for path in sorted(SCENARIOS.glob("*.yaml")):
        sc = load_scenario(path.relative_to(ROOT))
        if sc.is_portfolio:
            continue
        stages.add(sc.account.facts["stage"])
        for p in simulate(sc).steps:
            stages.add(p.stage)
            moves.add(p.decision.move)
    assert stages == set(ALL_STAGES)
    assert moves == {"advance", "hold", "regress", "uncouple", "recover"}


def test_changed_threshold_breaks_an_expectation(tmp_path, in_root):
    """Raising the early-to-mid trust threshold makes full-path fail, naming scenario, period, expected and observed."""
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    stages = rules / "stages.yaml"
    text = stages.read_text(encoding="utf-8")
    old = "        - {fact: trust_score, op: gte, value: 6}          # default threshold; tune it"
    assert text.count(old) == 1
    stages.write_text(text.replace(old, old.replace("value: 6}", "value: 7}")), encoding="utf-8")
    scenario = tmp_path / "full-path.yaml"
    scenario.write_text(
        (SCENARIOS / "full-path.yaml")
        .read_text(encoding="utf-8")
        .replace("\naccount:\n", f"\nrules: {rules}\naccount:\n", 1),
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["test", str(scenario)])
    assert result.exit_code == 1
    assert "FAIL full-path period 2027Q2 stage = mid-KAM: expected mid-KAM, observed early-KAM" in result.output
    assert "FAIL full-path period 2027Q2 move = advance: expected advance, observed hold" in result.output
    summary = [line for line in result.output.splitlines() if " passed, " in line]
    assert summary and summary[-1].endswith("failed") and not summary[-1].endswith(" 0 failed")


# ---------------------------------------------------------------------------- portfolio scenario

PORTFOLIO_SCENARIO = "scenarios/structure-growth.yaml"


def test_portfolio_scenario_passes_through_the_test_runner(in_root):
    """The shipped portfolio scenario runs through the same runner as `kamrules test`, and every expectation holds."""
    report = run_tests([PORTFOLIO_SCENARIO])
    assert [outcome_line(o) for o in report.outcomes if not o.passed] == []
    assert report.passed == 12
    result = CliRunner().invoke(main, ["test", PORTFOLIO_SCENARIO])
    assert result.exit_code == 0, result.output
    assert "PASS structure-growth period 2027Q4 structure = advanced" in result.output.splitlines()
    assert result.output.splitlines()[-1] == "12 passed, 0 failed"


def test_portfolio_structure_changes_from_base_to_advanced(in_root):
    """The structure goes from base to advanced once a third key account reaches partnership-KAM, moves carry over."""
    tl = simulate(load_scenario(PORTFOLIO_SCENARIO))
    assert [(p.structure.structure, p.structure.structure_rule) for p in tl.steps] == [
        ("base", "structure-base")
    ] * 3 + [("advanced", "structure-advanced")] * 3
    assert [p.portfolio_facts["portfolio_advanced_stage_accounts"] for p in tl.steps] == [1, 2, 2, 3, 3, 3]
    assert [len(p.key_accounts) for p in tl.steps] == [5] * 6
    # Friuli (GP-06) grows 40% in 2027Q3: into class A and a key account, pushing Etna (GP-05) out of class A.
    assert ("GP-06" in tl.steps[2].key_accounts, "GP-05" in tl.steps[2].key_accounts) == (True, False)
    assert ("GP-06" in tl.steps[1].key_accounts, "GP-05" in tl.steps[1].key_accounts) == (False, True)
    # GP-04's advance is refused in 2028Q1 (it stays early-KAM) and taken in 2028Q2.
    assert [(p.moves["GP-04"], p.stages["GP-04"]) for p in tl.steps[4:]] == [
        ("advance", "early-KAM"),
        ("advance", "mid-KAM"),
    ]
    assert tl.steps[3].stages["GP-03"] == "partnership-KAM"


def test_portfolio_structure_failure_names_period_and_values(tmp_path, in_root):
    """A wrong structure expectation fails with the scenario, the period, the expected and the observed value."""
    text = (SCENARIOS / "structure-growth.yaml").read_text(encoding="utf-8")
    old = "    expect: {structure: advanced, key_accounts: 5}\n"
    path = tmp_path / "structure-growth.yaml"
    path.write_text(text.replace(old, old.replace("advanced", "base"), 1), encoding="utf-8")
    result = CliRunner().invoke(main, ["test", str(path)])
    assert result.exit_code == 1
    assert (
        "FAIL structure-growth period 2027Q4 structure = base: expected base, observed advanced "
        "(rule structure-advanced)"
    ) in result.output


def test_portfolio_monte_carlo_is_refused(in_root):
    """`simulate --runs` on a portfolio scenario is refused with a file:line:col error and exit 3."""
    result = CliRunner().invoke(main, ["simulate", PORTFOLIO_SCENARIO, "--runs", "10"])
    assert result.exit_code == 3
    assert result.stderr.startswith(f"{PORTFOLIO_SCENARIO}:12:12: error: Monte Carlo (--runs) is not supported")


def test_unknown_portfolio_account_exits_3(in_root):
    """An unknown account id under 'accounts:' gets a file:line:col error with a did-you-mean, and exit 3."""
    result = CliRunner().invoke(main, ["test", "tests/data/bad_scenarios/unknown-account.yaml"])
    assert result.exit_code == 3
    assert result.stderr.startswith(
        "tests/data/bad_scenarios/unknown-account.yaml:7:7: error: unknown account 'GP-002'"
    )
    assert "did you mean 'GP-02'?" in result.stderr


# ---------------------------------------------------------------------------- simulation semantics

BASE = """name: tmp
rules: RULES
account:
  account: T-1
  facts: {stage: early-KAM, abc_revenue: A, selection_rank: 1, trust_score: 7.0, contact_pairs: 5, purchases: 10,
          revenue: 100.0, buyer_open_to_competitors: false, customisation: limited}
periods:
"""


def test_refused_move_keeps_the_stage(tmp_path):
    """A refused move is reported as recommended but the next period starts from the unchanged stage."""
    path = _scenario(tmp_path, BASE + "  - {period: A, refuse_move: true}\n  - {period: B}\n")
    tl = simulate(load_scenario(path))
    assert [(p.decision.move, p.stage) for p in tl.steps] == [("advance", "early-KAM"), ("advance", "mid-KAM")]


def test_integer_facts_stay_integers_and_changes_clamp_to_range(tmp_path):
    """Multiplying an integer fact rounds it, and a change past a fact's range stops at the bound."""
    path = _scenario(tmp_path, BASE + "  - period: A\n    multiply: {purchases: 1.26}\n    add: {trust_score: 5}\n")
    p = simulate(load_scenario(path)).steps[0]
    assert p.decision.given["purchases"] == 13 and isinstance(p.decision.given["purchases"], int)
    assert p.decision.given["trust_score"] == 10.0
    assert [clamp_text(c) for c in p.clamps] == ["trust_score clamped to 10.0"]


def test_expected_path_uses_central_values(tmp_path):
    """Without --runs, random changes take the mean, the midpoint or the most probable choice."""
    path = _scenario(
        tmp_path,
        BASE + "  - period: A\n    multiply: {revenue: {normal: {mean: 1.5, sd: 9}}}\n"
        "    add: {contact_pairs: {uniform: {low: 1, high: 4}}}\n"
        "    set: {competitor_pressure: {choice: {high: 0.2, medium: 0.8}}}\n",
    )
    given = simulate(load_scenario(path)).steps[0].decision.given
    assert (given["revenue"], given["contact_pairs"], given["competitor_pressure"]) == (150.0, 8, "medium")


def test_failed_expectations_name_what_was_observed(tmp_path):
    """Each kind of expectation that fails says what was expected and what the period showed instead."""
    path = _scenario(
        tmp_path,
        BASE + "  - period: A\n    expect:\n      stage: pre-KAM\n      move: hold\n      key_account: false\n"
        "      structure: advanced\n      actions: [assess-potential]\n"
        "      actions_absent: [widen-contact-network]\n      fired: [pre-kam-assess-potential]\n",
    )
    lines = [outcome_line(o).split(": ", 1)[1].rsplit(" (", 1)[0] for o in check(simulate(load_scenario(path)))]
    actions = "increase-customisation, widen-contact-network, schedule-first-account-review"
    assert lines == [
        "expected pre-KAM, observed mid-KAM",
        "expected hold, observed advance",
        "expected false, observed true",
        "expected advanced, observed none",
        f"expected present, observed absent (actions: {actions})",
        f"expected absent, observed present (actions: {actions})",
        "expected fired, observed not fired (fired: eligible-by-revenue-class-a, contact-model-bow-tie, "
        "key-account-selected, early-to-mid, review-missing-for-key-account, early-kam-increase-customisation, "
        "early-kam-widen-contact-network)",
    ]


# ---------------------------------------------------------------------------- Monte Carlo


def test_monte_carlo_is_reproducible_and_sums_to_one(in_root):
    """The same seed gives the same stage probabilities, and each period's probabilities sum to 1."""
    sc = load_scenario("scenarios/growth.yaml")
    a, b = monte_carlo(sc, 200, 7), monte_carlo(sc, 200, 7)
    assert a.to_dict() == b.to_dict()
    for row, counts in zip(a.probabilities(), a.counts, strict=True):
        assert sum(counts.values()) == 200
        assert sum(row.values()) == pytest.approx(1.0)
    assert monte_carlo(sc, 200, 8).counts != a.counts


def test_monte_carlo_in_batches_counts_every_run(in_root, monkeypatch):
    """Runs counted batch by batch (here of 7) add up to every run; the percentiles are exact nearest ranks."""
    sc = load_scenario("scenarios/growth.yaml")
    whole = monte_carlo(sc, 30, 7)
    monkeypatch.setattr("kamrules.scenarios.montecarlo.CHUNK", 7)
    mc = monte_carlo(sc, 30, 7)
    assert [sum(c.values()) for c in mc.counts] == [30] * len(sc.steps)
    assert mc.counts != whole.counts or mc.time_counts != whole.time_counts  # the draws went batch by batch
    times = sorted(t for t, c in enumerate(mc.time_counts) for _ in range(c))
    assert mc.reached == len(times) > 0
    for p in (10, 50, 90):
        assert mc.percentile(p) == times[max(-(-p * len(times) // 100) - 1, 0)]
    assert mc.mean_time == pytest.approx(sum(times) / len(times))


def test_cli_runs_beyond_the_time_budget_is_a_usage_error(in_root):
    """`--runs` past 1,000,000 evaluations (runs x periods) exits 2 naming the most runs the scenario allows."""
    result = CliRunner().invoke(main, ["simulate", "scenarios/growth.yaml", "--runs", "200000"])
    assert result.exit_code == 2
    assert "at most 125,000 runs for this scenario" in result.output


def test_cli_monte_carlo_1000_runs_seed_7_twice(in_root):
    """`simulate --runs 1000 --seed 7` prints the same JSON twice, with probabilities summing to 1 per period."""
    args = ["simulate", "scenarios/growth.yaml", "--runs", "1000", "--seed", "7", "--format", "json"]
    first, second = CliRunner().invoke(main, args), CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert first.output == second.output
    data = json.loads(first.output)
    for period in data["periods"]:
        assert sum(period["probabilities"].values()) == pytest.approx(1.0)
    t = data["time_to_target"]
    assert t["target"] == "partnership-KAM"
    assert t["reached"] / 1000 + t["never_share"] == pytest.approx(1.0)
    assert t["p10"] <= t["p50"] <= t["p90"]


# ---------------------------------------------------------------------------- malformed files


def _headlines(path: Path) -> str:
    try:
        load_scenario(path)
    except InvalidInput as e:
        return "\n".join(p.headline() for p in e.problems) + "\n"
    return "no error\n"


@pytest.mark.parametrize("path", BAD_FILES, ids=[p.stem for p in BAD_FILES])
def test_bad_scenario_golden_messages(path, in_root, check_golden):
    """A malformed scenario file gets the file:line:col messages of its golden file."""
    rel = path.relative_to(ROOT)
    got = _headlines(rel)
    check_golden(got, path.with_suffix(".expected"))
    assert got.startswith(f"{rel}:")


@pytest.mark.parametrize("command", ["simulate", "test"])
def test_bad_scenario_exits_3(command, in_root):
    """Both commands exit 3 on a malformed scenario, with the file:line:col headline on stderr."""
    result = CliRunner().invoke(main, [command, "tests/data/bad_scenarios/unknown-fact.yaml"])
    assert result.exit_code == 3
    assert result.stderr.startswith("tests/data/bad_scenarios/unknown-fact.yaml:7:11: error: unknown fact 'trust_scor'")
