"""Shared fixtures: the default rule set, one evaluator for the session, and the golden-file flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from kamrules import Evaluator, load_ruleset

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files from current output")


@pytest.fixture(autouse=True)
def _private_audit_db(tmp_path, monkeypatch):
    """Every test records decisions into its own audit database, never into the working tree."""
    monkeypatch.setenv("KAMRULES_AUDIT_DB", str(tmp_path / "audit.sqlite"))


@pytest.fixture(scope="session")
def update_golden(request) -> bool:
    return request.config.getoption("--update-golden")


@pytest.fixture(scope="session")
def ruleset():
    return load_ruleset(ROOT / "rules")


@pytest.fixture(scope="session")
def evaluator(ruleset):
    ev = Evaluator(ruleset)
    yield ev
    ev.close()
