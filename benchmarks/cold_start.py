"""Cold start of the command line: `kamrules --version` and `kamrules evaluate` of one account against `import durable`.

    .venv/bin/python benchmarks/cold_start.py [--runs 15] [--importtime] [--before CHECKOUT]

Runs each command --runs times, interleaved (one of each in turn, so a change in the machine's load
touches all alike), and prints the median wall time of each and its ratio to `python -c "import durable"`
(the floor: the interpreter and the engine every evaluation needs). With --importtime, the modules that
`kamrules evaluate` spends most import time in (`python -X importtime`, cumulative). With --before, the
evaluate commands of another checkout (its own .venv, e.g. a `git worktree` of main) run in the same
rounds, so a change is measured under the same load as what it changes.
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = ROOT / "examples" / "accounts" / "meccanica-torinese.yaml"
# The installed console script, as a user runs it (run by this interpreter, so -X importtime applies).
KAMRULES = [sys.executable, str(Path(sys.executable).parent / "kamrules")]


def evaluations(root: Path, log: Path, python: str = sys.executable, tag: str = "") -> dict[str, list[str]]:
    """The evaluate commands of the checkout ``root``, run by ``python`` (its venv's), by name."""
    kamrules = [python, str(Path(python).parent / "kamrules")]
    evaluate = [*kamrules, "evaluate", str(root / ACCOUNT.relative_to(ROOT)), "--rules", str(root / "rules")]
    return {
        f"{tag}kamrules evaluate --no-audit": [*evaluate, "--no-audit"],
        f"{tag}kamrules evaluate (recorded)": [*evaluate, "--audit-db", str(log)],
        f"{tag}kamrules evaluate --format json": [*evaluate, "--format", "json", "--audit-db", str(log)],
    }


def commands(log: Path, before: Path | None = None) -> dict[str, list[str]]:
    """What is timed, by name."""
    timed = {
        "python -c 'import durable'": [sys.executable, "-c", "import durable"],
        "kamrules --version": [*KAMRULES, "--version"],
        **evaluations(ROOT, log),
    }
    if before is not None:
        python = str(before / ".venv" / "bin" / "python")
        timed |= evaluations(before, log.with_name("before.sqlite"), python, "before: ")
    return timed


def timed(cmd: list[str]) -> float:
    """Wall seconds of one run (its output discarded; a failure stops the benchmark)."""
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd=ROOT)
    return time.perf_counter() - t0


def importtime(cmd: list[str], top: int = 15) -> list[tuple[float, str]]:
    """The modules with the largest cumulative import time in one run of ``cmd``, in ms."""
    err = subprocess.run(
        [cmd[0], "-X", "importtime", *cmd[1:]], capture_output=True, text=True, check=True, cwd=ROOT
    ).stderr
    rows = []
    for line in err.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\s*)(\S+)", line)
        if m and len(m[2]) <= 4:  # the package and its first two levels of imports
            rows.append((int(m[1]) / 1000, m[2] + m[3]))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--importtime", action="store_true", help="also show where evaluate's import time goes")
    ap.add_argument("--before", type=Path, help="another checkout with its .venv, timed in the same rounds")
    args = ap.parse_args()
    # An installed kamrules has its bytecode compiled (pip does it); an editable one run with
    # PYTHONDONTWRITEBYTECODE=1 would compile every module from source on every run instead.
    for root in [ROOT, *([args.before] if args.before else [])]:
        compileall.compile_dir(root / "kamrules", quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        cmds = commands(Path(tmp) / "a.sqlite", args.before)
        times: dict[str, list[float]] = {name: [] for name in cmds}
        for cmd in cmds.values():  # warm the file cache and the .pyc files
            timed(cmd)
        for _ in range(args.runs):
            for name, cmd in cmds.items():
                times[name].append(timed(cmd))
        base = statistics.median(times["python -c 'import durable'"])
        for name, ts in times.items():
            med = statistics.median(ts)
            print(f"{name:42s} median {med * 1000:7.1f} ms  min {min(ts) * 1000:7.1f} ms  {med / base:5.1f}x")
        if args.importtime:
            print("\nimport time of `kamrules evaluate` (cumulative ms):")
            for ms, name in importtime(cmds["kamrules evaluate (recorded)"]):
                print(f"{ms:8.1f}  {name}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    runs = f"{args.runs} interleaved runs"
    print(f"\npython {sys.version.split()[0]}, {os.cpu_count()} cores, {runs}, load average {load:.2f}")


if __name__ == "__main__":
    main()
