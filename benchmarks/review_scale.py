"""The whole `kamrules portfolio` review at scale: each stage's time, the command end to end, and how cost grows.

    .venv/bin/python benchmarks/review_scale.py [--accounts 10000,100000,1000000] [--repeat 1] [--no-command]
        [--formats csv,json]

For each size a seeded account table (benchmarks/portfolio_bench.py's generator: lognormal revenue,
correlated volume and margin, stages, dates, 20% previous key accounts) is written to a temporary CSV,
then:

* in this process, the stages of the columnar review as `kamrules portfolio` runs them: reading the CSV
  (polars, every cell checked), the facts (engine values, ABC on four metrics, potential, selection
  score), the rules (eligibility pass, ranks, designation pass, each with its 1,000-account
  durable_rules cross-check), the account table, the log (Recorder.add_frame), the CSV;
* the command itself, `kamrules portfolio FILE --format csv --output OUT.csv` with the decision log,
  in a child process: wall time, that process's peak RSS and the log's size per account decision.

Cost per account at each size shows whether growth is linear. Figures go to docs/scale.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from portfolio_bench import generate

from kamrules.audit import log as audit
from kamrules.inputs.frames import read_account_frame
from kamrules.kam import load_settings, load_structure_rules
from kamrules.kam.frame_review import review_columns
from kamrules.lang import load_ruleset
from kamrules.render.export import review_csv
from kamrules.render.review import ReviewReport

ROOT = Path(__file__).resolve().parent.parent
RULES = str(ROOT / "rules")
AS_OF = dt.date(2026, 9, 30)


def stages(src: Path, tmp: Path) -> dict[str, float]:
    """Each stage of the columnar review, timed in this process."""
    out: dict[str, float] = {}
    t = time.perf_counter()
    ruleset, settings, structure = load_ruleset(RULES), load_settings(RULES), load_structure_rules(RULES)
    frame = read_account_frame(src)
    out["read"] = time.perf_counter() - t
    t = time.perf_counter()
    done = review_columns(frame, ruleset, settings, structure, AS_OF)
    assert done is not None, "the generated table took the row path"
    out["review"] = time.perf_counter() - t
    t = time.perf_counter()
    with audit.Recorder(tmp / "stages.db", ruleset, "portfolio") as log:
        log.add_frame(done.decisions)
    out["log"] = time.perf_counter() - t
    t = time.perf_counter()
    (tmp / "stages.csv").write_text(review_csv(ReviewReport(done.review, {"file": str(src)})), encoding="utf-8")
    out["csv"] = time.perf_counter() - t
    return out


def command(src: Path, tmp: Path, fmt: str = "csv") -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of the command in a child process, with the decision log."""
    exe = str(Path(sys.executable).with_name("kamrules"))
    cmd = [exe, "portfolio", str(src), "--rules", RULES, "--format", fmt, "--output", str(tmp / f"out.{fmt}")]
    cmd += ["--quiet", "--audit-db", str(tmp / "log.db"), "--as-of", AS_OF.isoformat()]
    # GNU time reports the child's own peak: a forked child's ru_maxrss also counts this big process's pages.
    timer = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    report = tmp / "time.txt"
    t = time.perf_counter()
    timed = [timer, "-f", "%M", "-o", str(report), *cmd] if timer else cmd
    proc = subprocess.run(timed, capture_output=True, text=True)
    wall = time.perf_counter() - t
    assert proc.returncode == 0, proc.stderr[-2000:]
    if timer:
        return wall, int(report.read_text().split()[-1]) / 1024
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    """Measure each size and print one line per size and stage."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", default="10000,100000,1000000")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--no-command", action="store_true")
    ap.add_argument("--formats", default="csv", help="the command's output formats, e.g. csv,json")
    a = ap.parse_args()
    per_account = {}
    for n in (int(x) for x in a.accounts.split(",")):
        with tempfile.TemporaryDirectory() as name:
            tmp = Path(name)
            src = tmp / "portfolio.csv"
            generate(src, n)
            for _ in range(a.repeat):
                s = stages(src, tmp)
                line = " | ".join(f"{k} {v:.2f}s" for k, v in s.items())
                share = f"the log {s['log'] / (sum(s.values()) - s['log']):.0%} of the rest"
                print(f"N={n:,} stages: {line} | total {sum(s.values()):.2f}s ({share})", flush=True)
                for fmt in [] if a.no_command else a.formats.split(","):
                    (tmp / "log.db").unlink(missing_ok=True)
                    wall, peak = command(src, tmp, fmt)
                    if fmt == "csv":  # the target's output
                        per_account[n] = wall / n * 1e6
                    cost = f"{wall / n * 1e6:.1f} µs/account"
                    size = f"log {(tmp / 'log.db').stat().st_size / n:.0f} bytes/decision"
                    print(
                        f"N={n:,} command, {fmt}: {wall:.2f}s wall, peak RSS {peak:,.0f} MB, {cost}, {size}", flush=True
                    )
    if len(per_account) > 1:
        first = min(per_account)
        growth = {n: round(v / per_account[first], 2) for n, v in per_account.items()}
        print("µs per account relative to the smallest size:", growth)


if __name__ == "__main__":
    main()
