"""The command line: output shape and exit codes of evaluate and rules check/list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kamrules.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples" / "accounts").glob("*.yaml"))


@pytest.fixture(autouse=True)
def _at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def run(*args):
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_evaluate_json_shape(path):
    """evaluate --format json on each shipped example has the documented fields and provenance."""
    result = run("evaluate", str(path), "--format", "json", "--no-audit")
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    assert {"account", "key_account", "stage", "actions", "reasons", "rules_version"} <= set(d)
    assert {"current", "recommended", "move"} <= set(d["stage"])
    assert d["stage"]["move"] in ("advance", "hold", "regress", "uncouple", "recover")
    assert len(d["rules_version"]) == 64
    assert d["reasons"], "every example fires at least one rule"
    for reason in d["reasons"]:
        file, line = reason["source"].rsplit(":", 1)
        assert Path(file).exists() and int(line) >= 1
        for c in reason["conditions"]:
            assert {"fact", "op", "value", "observed", "holds"} <= set(c)


def test_evaluate_table_names_move_actions_and_reasons():
    """The table output of an uncoupling example names the move, the winning rule and its conditions."""
    result = run("evaluate", "examples/accounts/meccanica-torinese.yaml", "--no-audit")
    assert result.exit_code == 0
    out = result.stdout
    assert "mid-KAM → uncoupling-KAM  (uncouple)" in out
    assert "breach_of_trust" in out and "rules/stages.yaml:" in out


def test_evaluate_several_accounts_gives_a_list():
    """Several account files give a JSON list in argument order."""
    result = run("evaluate", str(EXAMPLES[0]), str(EXAMPLES[1]), "--format", "json", "--no-audit")
    assert [d["account"] for d in json.loads(result.stdout)] == [
        __import__("yaml").safe_load(p.read_text())["account"] for p in EXAMPLES[:2]
    ]


def test_rules_check_default_ok():
    """The shipped rules folder is valid."""
    result = run("rules", "check", "rules")
    assert result.exit_code == 0
    assert result.stdout.startswith("rules: ok: ")


def test_rules_list_json_has_every_rule(ruleset):
    """rules list --format json lists every rule with its source."""
    result = run("rules", "list", "rules", "--format", "json")
    rows = json.loads(result.stdout)["rules"]
    assert sorted(r["id"] for r in rows) == sorted(r.id for r in ruleset.rules)


def test_missing_rules_folder_is_invalid_input():
    """A rules folder that does not exist is exit 3 with a clear message."""
    result = run("rules", "check", "no/such/folder")
    assert result.exit_code == 3
    assert "no/such/folder: error: rules folder not found" in result.stderr


def test_missing_account_file_is_invalid_input():
    """An account file that does not exist is exit 3, not a traceback."""
    result = run("evaluate", "nope.yaml")
    assert result.exit_code == 3
    assert "nope.yaml: error: file not found" in result.stderr


def test_usage_error_exit_2():
    """An unknown option is a usage error with exit 2."""
    assert run("evaluate", "--bogus").exit_code == 2


def test_yaml_1_1_number_forms_are_not_numbers(tmp_path):
    """1:30 and 0x5 are invalid values instead of 90 and 5, and 010 is ten, not octal eight."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("account: A\nfacts:\n  contact_pairs: 1:30\n  regions: 0x5\n")
    result = run("evaluate", str(bad), "--no-audit")
    assert result.exit_code == 3
    assert "bad.yaml:3:18: error:" in result.stderr and "found text '1:30'" in result.stderr
    assert "bad.yaml:4:12: error:" in result.stderr and "found text '0x5'" in result.stderr
    good = tmp_path / "good.yaml"
    good.write_text("account: B\nfacts:\n  contact_pairs: 010\n")
    result = run("evaluate", str(good), "--no-audit", "--format", "json")
    assert json.loads(result.stdout)["given"]["contact_pairs"] == 10


def test_settings_problems_are_reported(tmp_path):
    """An unknown key, a non-finite cut-off and a negative weight in settings.yaml fail rules check with exit 3."""
    rules = tmp_path / "rules"
    __import__("shutil").copytree(ROOT / "rules", rules)
    (rules / "settings.yaml").write_text("abcc: 1\nabc: {a: .nan}\npotential: {trend: -1}\n")
    result = run("rules", "check", str(rules))
    assert result.exit_code == 3
    assert "unknown key 'abcc'" in result.stderr
    assert "abc cut-off 'a' must be a finite number" in result.stderr
    assert "weight of 'trend' must be a number >= 0" in result.stderr


def test_unexpected_errors_exit_4_without_traceback(monkeypatch):
    """A bug inside a command is reported as an internal error with exit 4, not a traceback or exit 1."""
    import kamrules.cli.rules as cli

    def boom(*a, **k):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(cli, "load_ruleset", boom)
    result = run("rules", "check", "rules")
    assert result.exit_code == 4
    assert "internal error: ZeroDivisionError: division by zero" in result.stderr
    assert "Traceback" not in result.output


def test_rejected_fact_declaration_is_one_error(tmp_path):
    """A fact rejected in facts.yaml is reported there once, not again in every rule that uses it."""
    rules = tmp_path / "rules"
    __import__("shutil").copytree(ROOT / "rules", rules)
    facts = rules / "facts.yaml"
    facts.write_text(facts.read_text().replace("range: [0.0, 10.0]", "range: [0.0, 1.0e20]", 1))
    result = run("rules", "check", str(rules))
    assert result.exit_code == 3
    assert result.stderr.count(": error: ") == 1 and "is too wide" in result.stderr


def test_errors_follow_the_commands_format(monkeypatch):
    """With --format json an error (a user's or a bug) is one JSON document on stdout; with csv it is text on stderr."""
    result = run("rules", "list", "no/such/folder", "--format", "json")
    assert result.exit_code == 3 and not result.stderr
    assert json.loads(result.stdout)["problems"][0]["message"] == "rules folder not found"
    result = run("rules", "list", "no/such/folder", "--format", "csv")
    assert result.exit_code == 3 and not result.stdout
    assert "no/such/folder: error: rules folder not found" in result.stderr
    import kamrules.cli.rules as cli

    monkeypatch.setattr(cli, "load_ruleset", lambda *a, **k: 1 / 0)
    result = run("rules", "check", "rules", "--format", "json")
    assert result.exit_code == 4 and not result.stderr
    assert json.loads(result.stdout) == {
        "error": "EngineError",
        "message": "ZeroDivisionError: division by zero (set KAMRULES_DEBUG=1 to see the traceback)",
        "exit_code": 4,
    }


def test_debug_keeps_the_traceback(monkeypatch):
    """With KAMRULES_DEBUG=1 a bug is not turned into a message: the exception propagates."""
    import kamrules.cli.rules as cli

    monkeypatch.setattr(cli, "load_ruleset", lambda *a, **k: 1 / 0)
    monkeypatch.setenv("KAMRULES_DEBUG", "1")
    assert isinstance(run("rules", "check", "rules").exception, ZeroDivisionError)
