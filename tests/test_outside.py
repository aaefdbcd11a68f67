"""kamrules outside its repository: shipped default rules, `kamrules init`, and every README command."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kamrules.cli import main
from kamrules.lang.defaults import ENV_RULES, shipped

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "examples/accounts/meccanica-torinese.yaml"


@pytest.fixture
def outside(tmp_path, monkeypatch):
    """A folder outside the repository with a user's own files (the examples and scenarios), but no rules."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    shutil.copytree(ROOT / "scenarios", tmp_path / "scenarios")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_RULES, raising=False)
    return tmp_path


def _run(*args: str):
    return CliRunner().invoke(main, list(args))


def readme_commands() -> list[str]:
    """The kamrules commands of the README's "What you can do" block, optional parts and comments removed."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## What you can do", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    block = block.replace("\\\n", " ")
    out = []
    for line in block.splitlines():
        line = re.sub(r"\[[^\]]*\]", "", line.split("#", 1)[0]).strip()
        # `kamrules serve` runs until stopped: tests/test_serve_load.py starts the real server instead
        if line.startswith("kamrules ") and not line.startswith("kamrules serve"):
            out.append(line)
    return out


def _args(command: str) -> list[str]:
    """A README command line as arguments, its placeholders filled in; an unknown placeholder fails the test."""
    args = shlex.split(command)[1:]
    fill = {"ACCOUNT.yaml": ACCOUNT, "NEW_DIR": str(shipped())}
    if {"DECISION_ID", "ACCOUNT", "RUN_ID"} & set(args):  # from the decision log the commands before wrote
        first = json.loads(_run("audit", "list", "--format", "json").stdout)[0]
        run_id = first["decision_id"].rsplit("-", 1)[0]  # a decision id is RUN-N
        fill |= {"DECISION_ID": first["decision_id"], "ACCOUNT": first["account"], "RUN_ID": run_id}
    args = [fill.get(a, a) for a in args]
    unknown = [a for a in args if re.fullmatch(r"[A-Z][A-Z_]+(\.\w+)?", a)]
    assert not unknown, f"README placeholder(s) {unknown} in `{command}`: teach this test what to put there"
    return args


def test_every_readme_command_works_outside_the_repository(outside, monkeypatch):
    """Each command of the README exits 0 from a folder with no rules/, using the rules shipped with kamrules."""
    monkeypatch.setenv("KAMRULES_AUDIT_DB", str(outside / "audit.sqlite"))
    commands = readme_commands()
    assert len(commands) >= 15
    for command in commands:
        r = _run(*_args(command))
        assert r.exit_code == 0, f"`{command}` from {outside}: exit {r.exit_code}\n{r.output[-1500:]}"


def test_shipped_rules_are_used_and_named_outside_the_repository(outside):
    """With no ./rules and no $KAMRULES_RULES, the shipped rules decide, and the output says so."""
    r = _run("evaluate", ACCOUNT, "--no-audit")
    assert r.exit_code == 0, r.output
    assert r.stdout.rstrip().splitlines()[-1] == f"rules: {shipped()} (the defaults shipped with kamrules; " + (
        "`kamrules init` copies them to tune)"
    )
    doc = json.loads(_run("portfolio", "examples/portfolio.csv", "--no-audit", "--quiet", "--format", "json").stdout)
    assert doc["rules"] == {"path": str(shipped()), "origin": "shipped"}
    one = json.loads(_run("evaluate", ACCOUNT, "--no-audit", "--format", "json").stdout)
    assert one["rules"] == {"path": str(shipped()), "origin": "shipped"}


def test_rules_folder_order_option_then_cwd_then_environment(outside, monkeypatch, tmp_path_factory):
    """--rules wins, then ./rules, then $KAMRULES_RULES; each output names the folder and why it was chosen."""
    elsewhere = tmp_path_factory.mktemp("env") / "rules"
    shutil.copytree(shipped(), elsewhere)
    monkeypatch.setenv(ENV_RULES, str(elsewhere))

    def origin(*extra: str) -> dict:
        args = ("portfolio", "examples/portfolio.csv", "--no-audit", "--quiet", "--format", "json", *extra)
        return json.loads(_run(*args).stdout)["rules"]

    assert origin() == {"path": str(elsewhere), "origin": "environment"}
    assert _run("init").exit_code == 0
    assert origin() == {"path": "rules", "origin": "current folder"}
    assert origin("--rules", str(elsewhere)) == {"path": str(elsewhere), "origin": "option"}


def test_init_copies_the_defaults_and_never_overwrites(outside):
    """kamrules init DIR copies every shipped rule file; a second init into the same folder is exit 3."""
    r = _run("init", "my-rules")
    assert r.exit_code == 0, r.output
    shipped_files = sorted(p.relative_to(shipped()).as_posix() for p in shipped().rglob("*.yaml"))
    copied = sorted(p.relative_to(outside / "my-rules").as_posix() for p in (outside / "my-rules").rglob("*.yaml"))
    assert copied == shipped_files and "portfolio/structure.yaml" in copied
    assert "pass --rules my-rules" in r.stdout
    again = _run("init", "my-rules")
    assert again.exit_code == 3 and "not empty" in again.output
    assert _run("rules", "check", "my-rules").exit_code == 0


def test_kamrules_test_runs_the_shipped_scenarios_without_a_scenarios_folder(tmp_path, monkeypatch):
    """In a folder with neither rules/ nor scenarios/, `kamrules test` runs the example scenarios and passes."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_RULES, raising=False)
    r = _run("test")
    assert r.exit_code == 0, r.output[-1500:]
    assert " 0 failed" in r.stdout
