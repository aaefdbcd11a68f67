#!/usr/bin/env python3
"""Set-up and the two everyday jobs: `python3 dev.py run` (review the example portfolio) and `python3 dev.py test`."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def setup() -> None:
    """Create .venv and install kamrules with its test dependencies (quietly, idempotent)."""
    if sys.version_info[:2] not in ((3, 10), (3, 11), (3, 12)):
        sys.exit(
            f"kamrules needs Python 3.10-3.12 (durable-rules 2.0.28 does not import on 3.13); this is {sys.version.split()[0]}"
        )
    if not (BIN / "python").exists():
        print("creating .venv ...", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing kamrules and its dependencies into .venv ...", file=sys.stderr)
    subprocess.run(
        [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", f"{ROOT}[test]"],
        check=True,
        cwd=ROOT,
    )


def main() -> int:
    """Dispatch `run` or `test`; extra arguments go to kamrules / pytest."""
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "test"):
        print(__doc__)
        print("usage: python3 dev.py run | test [extra arguments]")
        return 2
    setup()
    job, extra = sys.argv[1], sys.argv[2:]
    if job == "run":
        cmd = [str(BIN / "kamrules"), "portfolio", "examples/portfolio.csv", *extra]
    else:
        cmd = [str(BIN / "python"), "-m", "pytest", *extra]
    return subprocess.run(cmd, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
