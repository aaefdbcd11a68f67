"""Reading and ABC on seeded data: account CSVs, `kamrules abc` against pandas+numpy, invoice totals, XLSX.

Run: python benchmarks/frames_bench.py [--rows 50000 1000000] [--abc 1000000] [--invoices 10000000] [--xlsx 10000]
Needs the `bench` extra (pandas) for the baseline. Wall time and peak RSS of each command are measured in
a child process with /usr/bin/time; the machine is shared, so run it more than once.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

SEED = 20260701

# The pandas+numpy baseline: the same ranking (value descending, account ascending), shares and classes,
# written as JSON records.
PANDAS = """
import sys, pandas as pd, numpy as np
df = pd.read_csv(sys.argv[1], dtype={"account": str})
df = df.sort_values(["revenue", "account"], ascending=[False, True], kind="stable").reset_index(drop=True)
v = df["revenue"].to_numpy(); pos = np.where(v > 0, v, 0); total = pos.sum(); cum = np.cumsum(pos)
before = (cum - pos) / total
df["rank"] = np.arange(1, len(df) + 1); df["share"] = pos / total; df["cumulative_share"] = cum / total
df["class"] = np.where((before >= 0.95) | (v <= 0), "C", np.where(before >= 0.80, "B", "A"))
df.to_json(sys.argv[2], orient="records")
"""


def accounts_csv(path: Path, n: int) -> None:
    """n accounts: id, name, lognormal revenue in cents, a share of wallet and a boolean, ';' separated."""
    rng = np.random.default_rng(SEED)
    revenue = np.round(rng.lognormal(8.0, 1.5, n), 2)
    pl.DataFrame(
        {
            "account": [f"acct{i:07d}" for i in range(n)],
            "name": [f"Customer {i}" for i in range(n)],
            "revenue": [f"{x:.2f}" for x in revenue],
            "share_of_wallet": [f"{x:.2f}" for x in rng.integers(0, 100, n) / 100],
            "key_account": np.where(rng.random(n) < 0.1, "true", "false"),
        }
    ).write_csv(path, separator=";")


def abc_csv(path: Path, n: int) -> None:
    """n accounts with a lognormal revenue, the file both `kamrules abc` and the pandas script read."""
    rng = np.random.default_rng(SEED)
    revenue = np.round(rng.lognormal(8.0, 1.5, n), 2)
    pl.DataFrame({"account": [f"acct{i:07d}" for i in range(n)], "revenue": [f"{x:.2f}" for x in revenue]}).write_csv(
        path
    )


def invoices_csv(path: Path, n: int, accounts: int = 100_000) -> None:
    """n invoice lines over 2025-2026: account, ISO date, amount with two places (written in chunks)."""
    rng = np.random.default_rng(SEED)
    start = np.datetime64("2025-01-01")
    with path.open("w", encoding="utf-8") as f:
        f.write("account,date,amount\n")
        for lo in range(0, n, 1_000_000):
            k = min(1_000_000, n - lo)
            chunk = pl.DataFrame(
                {
                    "account": pl.Series(rng.integers(0, accounts, k)).cast(pl.String).str.pad_start(6, "0"),
                    "date": (start + rng.integers(0, 730, k).astype("timedelta64[D]")).astype(str),
                    "amount": [f"{x:.2f}" for x in np.round(rng.lognormal(5.0, 1.0, k), 2)],
                }
            )
            f.write(chunk.write_csv(include_header=False))


def timed(cmd: list[str], out: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a command, its stdout to ``out``."""
    with open(out or "/dev/null", "w") as sink:
        r = subprocess.run(["/usr/bin/time", "-f", "%e %M", *cmd], stdout=sink, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{cmd} failed: {r.stderr}")
    wall, kb = r.stderr.strip().splitlines()[-1].split()
    return float(wall), int(kb) / 1024


def py(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", code, *args]


READ = """
import sys, time
from kamrules.inputs.frames import read_account_frame
t = time.perf_counter(); f = read_account_frame(sys.argv[1]); t1 = time.perf_counter(); rows = f.rows()
print(f"frame {t1 - t:.2f} s, rows() {time.perf_counter() - t1:.2f} s, {len(rows)} rows")
"""

OLD_READ = """
import sys, time
from kamrules.inputs.tables import rows_of_table
from kamrules.inputs.textfiles import read_csv
t = time.perf_counter(); rows = rows_of_table(read_csv(sys.argv[1]))
print(f"cell by cell {time.perf_counter() - t:.2f} s")
"""

TOTALS = """
import sys, time
from kamrules.inputs.invoice_frames import totals_per_period
t = time.perf_counter(); tot = totals_per_period(sys.argv[1], "quarter")
print(f"totals {time.perf_counter() - t:.2f} s, {tot.height} account-quarters")
"""

XLSX = """
import sys, time
from kamrules.inputs import read_account_table
t = time.perf_counter(); rows = read_account_table(sys.argv[1])
print(f"{time.perf_counter() - t:.2f} s, {len(rows)} rows")
"""


def main() -> None:
    """Generate each file, run each measurement and print one line per figure."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, nargs="*", default=[50_000, 1_000_000])
    ap.add_argument("--abc", type=int, default=1_000_000)
    ap.add_argument("--invoices", type=int, default=10_000_000)
    ap.add_argument("--xlsx", type=int, default=10_000)
    ap.add_argument("--old", action="store_true", help="also time the cell-by-cell reader on the account CSVs")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="frames_bench_"))
    kamrules = str(Path(sys.executable).with_name("kamrules"))
    for n in args.rows:
        path = tmp / f"accounts_{n}.csv"
        accounts_csv(path, n)
        wall, mb = timed(py(READ, str(path)), tmp / "read.txt")
        print(
            f"read {n:,}-row account CSV: {wall:.2f} s wall, {mb:.0f} MB peak; {(tmp / 'read.txt').read_text().strip()}"
        )
        if args.old:
            wall, mb = timed(py(OLD_READ, str(path)), tmp / "old.txt")
            print(f"  cell-by-cell reader: {wall:.2f} s wall, {mb:.0f} MB peak")
    if args.abc:
        path = tmp / f"abc_{args.abc}.csv"
        abc_csv(path, args.abc)
        k_wall, k_mb = timed([kamrules, "abc", str(path), "--format", "json"], tmp / "abc.json")
        p_wall, p_mb = timed(py(PANDAS, str(path), str(tmp / "pandas.json")))
        print(
            f"abc {args.abc:,} rows, JSON out: kamrules {k_wall:.2f} s / {k_mb:.0f} MB, "
            f"pandas+numpy {p_wall:.2f} s / {p_mb:.0f} MB, ratio {k_wall / p_wall:.2f}"
        )
    if args.invoices:
        path = tmp / f"invoices_{args.invoices}.csv"
        t = time.perf_counter()
        invoices_csv(path, args.invoices)
        print(f"(generated {args.invoices:,} invoice lines in {time.perf_counter() - t:.0f} s)")
        wall, mb = timed(py(TOTALS, str(path)), tmp / "totals.txt")
        print(
            f"{args.invoices:,} invoice lines per quarter: {wall:.2f} s wall, {mb:.0f} MB peak; "
            f"{(tmp / 'totals.txt').read_text().strip()}"
        )
    if args.xlsx:
        import openpyxl

        path = tmp / f"accounts_{args.xlsx}.xlsx"
        wb = openpyxl.Workbook(write_only=True)
        ws = wb.create_sheet()
        ws.append(["account", "name", "revenue"])
        rng = np.random.default_rng(SEED)
        for i, x in enumerate(np.round(rng.lognormal(8.0, 1.5, args.xlsx), 2).tolist()):
            ws.append([f"acct{i:07d}", f"Customer {i}", x])
        wb.save(path)
        wall, mb = timed(py(XLSX, str(path)), tmp / "xlsx.txt")
        print(f"XLSX {args.xlsx:,} rows: {wall:.2f} s wall, {mb:.0f} MB peak; {(tmp / 'xlsx.txt').read_text().strip()}")


if __name__ == "__main__":
    main()
