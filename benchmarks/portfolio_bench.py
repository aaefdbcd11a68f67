"""Time `kamrules portfolio` end to end on a seeded synthetic account table of N accounts.

    .venv/bin/python benchmarks/portfolio_bench.py [N ...] [--audit]    (default N = 20000)

For each N: writes a seeded CSV into a temp dir; times, in this process, reading the table,
validation + ABC + potential, and the rules stage with full provenance serialised per account;
then runs `kamrules portfolio FILE --format json` as a child process (decision log off unless
--audit) for the end-to-end wall time and that process's peak RSS.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kamrules.inputs import read_review_input  # noqa: E402
from kamrules.kam import load_settings, load_structure_rules  # noqa: E402
from kamrules.kam import review as pf  # noqa: E402
from kamrules.kam.prepare import prepare  # noqa: E402
from kamrules.lang.loader import load_ruleset  # noqa: E402

SEED = 20260701
STAGES = ["pre-KAM", "early-KAM", "mid-KAM", "partnership-KAM", "synergistic-KAM", "uncoupling-KAM"]


def generate(path: Path, n: int, seed: int = SEED) -> None:
    """A realistic-looking account table: lognormal revenue, correlated volume/margin, mixed stages."""
    rng = random.Random(seed)
    cols = [
        "account",
        "name",
        "revenue",
        "volume",
        "purchases",
        "margin",
        "stage",
        "stage_since",
        "trust_score",
        "contact_pairs",
        "functions_involved",
        "attractiveness",
        "relative_strength",
        "share_of_wallet",
        "revenue_previous",
        "regions",
        "executive_sponsor",
        "priorities_changed",
        "previous_key_account",
    ]
    with path.open("w", encoding="utf-8") as f:
        f.write(",".join(cols) + "\n")
        for i in range(n):
            rev = rng.lognormvariate(10.0, 1.4)
            f.write(
                ",".join(
                    map(
                        str,
                        [
                            f"A{i:07d}",
                            f"Customer {i}",
                            f"{rev:.2f}",
                            int(rev / rng.uniform(5, 40)),
                            rng.randint(1, 200),
                            f"{rev * rng.uniform(0.05, 0.35):.2f}",
                            rng.choice(STAGES),
                            (dt.date(2026, 6, 30) - dt.timedelta(days=rng.randint(0, 1800))).isoformat(),
                            round(rng.uniform(0, 10), 1),
                            rng.randint(0, 20),
                            rng.randint(0, 8),
                            round(rng.uniform(0, 10), 1),
                            round(rng.uniform(0, 10), 1),
                            "" if i % 4 == 0 else round(rng.uniform(0, 1), 2),
                            "" if i % 5 == 0 else f"{rev / rng.uniform(0.5, 1.5):.2f}",
                            rng.randint(0, 8),
                            rng.choice(["true", "false"]),
                            "true" if rng.random() < 0.05 else "false",
                            "true" if rng.random() < 0.2 else "false",
                        ],
                    )
                )
                + "\n"
            )


def bench(n: int, audit: bool) -> None:
    """One run for N accounts: the staged timings in this process, then the real command in a child process."""
    rules = str(ROOT / "rules")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "portfolio.csv"
        generate(src, n)

        t0 = time.perf_counter()
        ruleset = load_ruleset(rules)
        settings = load_settings(rules)
        structure_rules = load_structure_rules(rules)
        rows, before, _meta = read_review_input(str(src), False, None, None, None)
        t_read = time.perf_counter() - t0

        t0 = time.perf_counter()
        prepare(rows, ruleset, settings)
        t_prep = time.perf_counter() - t0  # validation, ABC on four metrics, potential

        written = [0]

        def on_batch(results: list) -> None:
            for r in results:
                written[0] += len(json.dumps(r.to_dict(), default=str))

        t0 = time.perf_counter()
        pf.review(rows, ruleset, settings, before, on_batch=on_batch, structure_rules=structure_rules)
        t_review = time.perf_counter() - t0
        t_rules = max(t_review - t_prep, 1e-9)  # review repeats the preparation; the rest is rules + serialising
        del rows

        # The command as a user runs it, in its own process so that its peak memory is its own.
        out = Path(tmp) / "out.json"
        cmd = [
            str(Path(sys.executable).with_name("kamrules")),
            "portfolio",
            str(src),
            "--rules",
            rules,
            "--format",
            "json",
            "--quiet",
            "--audit-db",
            str(Path(tmp) / "audit.sqlite"),
        ]
        if not audit:
            cmd.append("--no-audit")
        t0 = time.perf_counter()
        with out.open("w") as f:
            proc = subprocess.run(cmd, stdout=f, stderr=subprocess.PIPE, text=True)
        t_cli = time.perf_counter() - t0
        child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        assert proc.returncode == 0, proc.stderr[-2000:]
        size = out.stat().st_size

    print(
        f"N={n:,}: read {t_read:.1f}s | validate+ABC+potential {t_prep:.1f}s | "
        f"rules with provenance + JSON per account {t_rules:.1f}s ({n / t_rules:,.0f} accounts/s, "
        f"{written[0] / n / 1000:.1f} KB per account)"
    )
    print(
        f"N={n:,}: `kamrules portfolio FILE --format json{'' if audit else ' --no-audit'}` end to end: "
        f"{t_cli:.1f}s wall ({n / t_cli:,.0f} accounts/s), output {size / 1e6:,.0f} MB, peak RSS {child:,.0f} MB"
    )


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    for arg in args or ["20000"]:
        bench(int(arg), audit="--audit" in sys.argv)
