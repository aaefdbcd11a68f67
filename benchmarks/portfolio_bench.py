"""Time `kamrules portfolio` end to end on a seeded synthetic account table of N accounts.

    .venv/bin/python benchmarks/portfolio_bench.py [N ...]     (default N = 20000)

For each N: writes the CSV into a temp dir, then in one process times reading the table,
ABC + potential + rule evaluation with full provenance (kamrules.portfolio.review), and writing
the JSON to a file, as `kamrules portfolio FILE --format json` does; then runs the CLI command
itself in-process (CliRunner) for the end-to-end wall time. Prints the figures and peak RSS.
"""
from __future__ import annotations

import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kamrules import portfolio as pf  # noqa: E402
from kamrules import portfolio_report as pr  # noqa: E402
from kamrules.cli import main as cli_main  # noqa: E402
from kamrules.loader import load_ruleset  # noqa: E402

SEED = 20260701
STAGES = ["pre-KAM", "early-KAM", "mid-KAM", "partnership-KAM", "synergistic-KAM", "uncoupling-KAM"]


def generate(path: Path, n: int, seed: int = SEED) -> None:
    """A realistic-looking account table: lognormal revenue, correlated volume/margin, mixed stages."""
    rng = random.Random(seed)
    cols = ["account", "name", "revenue", "volume", "purchases", "margin", "stage", "months_in_stage", "trust_score",
            "contact_pairs", "functions_involved", "attractiveness", "relative_strength", "share_of_wallet",
            "revenue_growth", "regions", "executive_sponsor", "priorities_changed", "previous_key_account"]
    with path.open("w", encoding="utf-8") as f:
        f.write(",".join(cols) + "\n")
        for i in range(n):
            rev = rng.lognormvariate(10.0, 1.4)
            f.write(",".join(map(str, [
                f"A{i:07d}", f"Customer {i}", f"{rev:.2f}", int(rev / rng.uniform(5, 40)), rng.randint(1, 200),
                f"{rev * rng.uniform(0.05, 0.35):.2f}", rng.choice(STAGES), rng.randint(0, 60),
                round(rng.uniform(0, 10), 1), rng.randint(0, 20), rng.randint(0, 8), round(rng.uniform(0, 10), 1),
                round(rng.uniform(0, 10), 1), "" if i % 4 == 0 else round(rng.uniform(0, 1), 2),
                "" if i % 5 == 0 else round(rng.uniform(-0.5, 1.0), 2), rng.randint(0, 8),
                rng.choice(["true", "false"]), "true" if rng.random() < 0.05 else "false",
                "true" if rng.random() < 0.2 else "false"])) + "\n")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux: ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench(n: int) -> None:
    """One run for N accounts: staged timings, then the CLI end to end."""
    rules = str(ROOT / "rules")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "portfolio.csv"
        t0 = time.perf_counter()
        generate(src, n)
        t_gen = time.perf_counter() - t0

        t0 = time.perf_counter()
        ruleset = load_ruleset(rules)
        settings = pf.load_settings(rules)
        rows, before, meta = pr.read_rows(str(src), False, None, None, None)
        t_read = time.perf_counter() - t0

        t0 = time.perf_counter()
        prepared, metrics, conc = pf._prepare(rows, ruleset, settings)
        t_prep = time.perf_counter() - t0  # validation, ABC on 4 metrics, potential

        t0 = time.perf_counter()
        rv = pf.review(rows, ruleset, settings, before)
        t_review = time.perf_counter() - t0
        t_rules = max(t_review - t_prep, 1e-9)  # review repeats the preparation; the rest is the rules stage

        t0 = time.perf_counter()
        out = Path(tmp) / "out.json"
        out.write_text(pr.render_portfolio(rv, "json", meta), encoding="utf-8")
        t_write = time.perf_counter() - t0
        size = out.stat().st_size
        del rv, prepared

        t0 = time.perf_counter()
        res = CliRunner().invoke(cli_main, ["portfolio", str(src), "--rules", rules, "--format", "json", "--quiet"])
        t_cli = time.perf_counter() - t0
        assert res.exit_code == 0, res.output[:2000]
        Path(tmp, "cli.json").write_text(res.output, encoding="utf-8")

    print(f"N={n:,}: generate {t_gen:.2f}s | read {t_read:.2f}s | validate+ABC+potential {t_prep:.2f}s | "
          f"rules {t_rules:.2f}s ({n / t_rules:,.0f} accounts/s) | write JSON {t_write:.2f}s ({size / 1e6:.0f} MB)")
    print(f"N={n:,}: end-to-end `kamrules portfolio --format json` in-process: {t_cli:.2f}s wall; "
          f"peak RSS so far {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["20000"]:
        bench(int(arg))
