#!/usr/bin/env python3
"""Set-up and the two everyday jobs: `python3 dev.py run` (review the example portfolio) and `python3 dev.py test`.

`test` runs the static checks first (ruff check, ruff format --check, mypy), then pytest, and stops at
the first that fails.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
# The hash of pyproject.toml at the last install: the dependencies change only with it.
STAMP = VENV / "kamrules-installed.sha256"
# In this order, each with the tool from .venv; configuration is in pyproject.toml.
CHECKS = [["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"]]


def setup() -> None:
    """Create .venv and install kamrules with its test dependencies (quiet; skipped if pyproject.toml is unchanged)."""
    if sys.version_info[:2] not in ((3, 10), (3, 11), (3, 12)):
        version = sys.version.split()[0]
        sys.exit(f"kamrules needs Python 3.10-3.12 (durable-rules 2.0.28 does not import on 3.13); this is {version}")
    if not (BIN / "python").exists():
        print("creating .venv ...", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text(encoding="utf-8").strip() == digest:
        return
    print("installing kamrules and its dependencies into .venv ...", file=sys.stderr)
    subprocess.run(
        [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", f"{ROOT}[test]"],
        check=True,
        cwd=ROOT,
    )
    STAMP.write_text(digest + "\n", encoding="utf-8")


def test(extra: list[str]) -> int:
    """The static checks, then pytest with ``extra``; the exit code of the first that fails."""
    for check in CHECKS:
        code = subprocess.run([str(BIN / check[0]), *check[1:]], cwd=ROOT).returncode
        if code:
            print(f"dev.py test: `{' '.join(check)}` failed (exit {code}); the tests were not run", file=sys.stderr)
            return code
    return subprocess.run([str(BIN / "python"), "-m", "pytest", *extra], cwd=ROOT).returncode


def main() -> int:
    """Dispatch `run` or `test`; extra arguments go to kamrules / pytest."""
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "test"):
        print(__doc__)
        print("usage: python3 dev.py run | test [extra arguments]")
        return 2
    setup()
    job, extra = sys.argv[1], sys.argv[2:]
    if job == "run":
        return subprocess.run(
            [str(BIN / "kamrules"), "portfolio", "examples/portfolio.csv", *extra], cwd=ROOT
        ).returncode
    return test(extra)


if __name__ == "__main__":
    sys.exit(main())
