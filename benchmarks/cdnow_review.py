"""The quarterly review of the real CDNOW transactions (23,570 customers, shipped by the PyPI package lifetimes).

Usage: .venv/bin/python benchmarks/cdnow_review.py [RULES_DIR]

Converts lifetimes/datasets/CDNOW_master.txt (from the installed distribution; the data never enters
this repository) into an invoice CSV in a temporary folder, runs `kamrules portfolio --transactions`
for every consecutive pair of quarters and prints, per pair, the accounts, the eligible ones, the
designated ones against the capacity, new / kept / lost and the time taken.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_acceptance_cdnow import QUARTERS, cdnow_invoice_csv  # noqa: E402


def main() -> None:
    """Print one line of figures per consecutive pair of quarters."""
    rules = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "rules")
    kamrules = Path(sys.executable).parent / "kamrules"
    with tempfile.TemporaryDirectory() as tmp:
        src = cdnow_invoice_csv(Path(tmp) / "cdnow.csv")
        print("previous → period | accounts | eligible | designated / capacity | new | kept | lost | seconds")
        for previous, period in itertools.pairwise(QUARTERS):
            t0 = time.perf_counter()
            out = subprocess.run(
                [
                    str(kamrules),
                    "portfolio",
                    str(src),
                    "--transactions",
                    "--period",
                    period,
                    "--previous",
                    previous,
                    "--rules",
                    rules,
                    "--format",
                    "json",
                    "--no-audit",
                    "--quiet",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            s = json.loads(out)["summary"]
            sel, r = s["selection"], s["review"]
            print(
                f"{previous} → {period} | {s['accounts']:,} | {sel['eligible']:,} | {sel['designated']} / "
                f"{sel['capacity']} | {len(r['new'])} | {len(r['kept'])} | {len(r['lost'])} | "
                f"{time.perf_counter() - t0:.1f}"
            )


if __name__ == "__main__":
    main()
