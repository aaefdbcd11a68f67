"""Shared fixtures: the default rule set, one evaluator for the session, and the golden-file flag."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kamrules import Evaluator, load_ruleset

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files from current output")


@pytest.fixture(scope="session", autouse=True)
def _private_rules_cache(tmp_path_factory):
    """Rule sets parsed by the tests are kept in a folder of the session (lang/cache.py), never the user's."""
    mp = pytest.MonkeyPatch()
    mp.setenv("KAMRULES_CACHE", str(tmp_path_factory.mktemp("rules-cache")))
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def _private_audit_db(tmp_path, monkeypatch):
    """Every test records decisions into its own audit database, never into the working tree."""
    monkeypatch.setenv("KAMRULES_AUDIT_DB", str(tmp_path / "audit.sqlite"))


@pytest.fixture(scope="session")
def update_golden(request) -> bool:
    """Whether golden files are rewritten: only with --update-golden or KAMRULES_REGEN=1, never by default."""
    return bool(request.config.getoption("--update-golden") or os.environ.get("KAMRULES_REGEN") == "1")


@pytest.fixture(scope="session")
def check_golden(update_golden):
    """Compare output with a golden file; a missing golden file fails unless regeneration was asked for."""

    def check(output: str, golden: Path) -> None:
        if update_golden:
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(output, encoding="utf-8")
        assert golden.exists(), f"{golden} is missing: regenerate with KAMRULES_REGEN=1 and review the diff"
        assert output == golden.read_text(encoding="utf-8")

    return check


@pytest.fixture(scope="session")
def ruleset():
    return load_ruleset(ROOT / "rules")


@pytest.fixture(scope="session")
def evaluator(ruleset):
    ev = Evaluator(ruleset)
    yield ev
    ev.close()
