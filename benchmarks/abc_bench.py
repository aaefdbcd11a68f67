"""Time exact ABC on 1,000,000 seeded lognormal values against a plain numpy sort-and-cumsum, in one run."""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from kamrules.kam.abc import (
    _INT64_MAX,
    AbcResult,
    _abc_classes_exact,
    _check_cuts,
    _classify,
    _fits,
    abc_classes,
)
from kamrules.kam.concentration import concentration

N = 1_000_000
SEED = 20260701


def abc_classes_arrays(
    ids: Sequence[str] | np.ndarray,
    units: Sequence[int] | np.ndarray,
    scale: int = 2,
    a_cut: Decimal = Decimal("0.80"),
    b_cut: Decimal = Decimal("0.95"),
) -> AbcResult:
    """abc_classes for values given as integers of 10**-scale (cents for scale 2) beside unique account ids.

    The int64 path without building a Decimal per value: what the library would gain if tables came as
    arrays (kept here, not in kamrules, because only this benchmark and its test use it).
    """
    _check_cuts(a_cut, b_cut)
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 0:
        raise ValueError(f"scale must be an integer >= 0, got {scale!r}")
    arr = np.asarray(units)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise TypeError(f"units must be a one-dimensional integer array, got {arr.dtype} of shape {arr.shape}")
    if len(ids) != len(arr):
        raise ValueError(f"{len(ids)} account ids but {len(arr)} values")
    fits = arr.size == 0 or (int(arr.max()) <= _INT64_MAX and _fits(int(arr.min()), int(arr.max()), len(arr)))
    if not fits:
        values = {str(a): Decimal(int(u)).scaleb(-scale) for a, u in zip(ids, arr.tolist(), strict=True)}
        if len(values) != len(arr):
            raise ValueError("account ids must be unique")
        return AbcResult._of_rows(_abc_classes_exact(values, a_cut, b_cut))
    return _classify(ids, None, arr.astype(np.int64, copy=False), scale, a_cut, b_cut)


def numpy_classes(values: np.ndarray, a_cut: float = 0.80, b_cut: float = 0.95) -> np.ndarray:
    """The float baseline: same ranking and crossing rule, no exactness and no tie-break by id."""
    order = np.argsort(-values, kind="stable")
    cum = np.cumsum(values[order])
    before = (cum - values[order]) / cum[-1]
    cls = np.where(before >= b_cut, 2, np.where(before >= a_cut, 1, 0))
    out = np.empty_like(cls)
    out[order] = cls
    return out


def best(f: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The fastest of repeat runs (less noise from the machine), and the last result."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    """Run the baseline and each exact path on the same data and print times and ratios to the baseline."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=N)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--reference", action="store_true", help="also time the pure-Decimal path (about 12 s)")
    args = ap.parse_args()
    n = args.n
    rng = np.random.default_rng(SEED)
    floats = np.round(rng.lognormal(mean=8.0, sigma=1.5, size=n), 2)
    ids = [f"acct{i:07d}" for i in range(n)]
    values = {a: Decimal(f"{x:.2f}") for a, x in zip(ids, floats, strict=True)}
    cents = np.rint(floats * 100).astype(np.int64)  # exact: every value has two places and is far below 2**50
    items = list(values.items())
    random.Random(SEED).shuffle(items)
    shuffled = dict(items)

    t_numpy, base = best(lambda: numpy_classes(floats), args.repeat)
    t_arrays, res_arrays = best(lambda: abc_classes_arrays(ids, cents, 2), args.repeat)
    t_map, res_map = best(lambda: abc_classes(values), args.repeat)
    t_shuf, res_shuf = best(lambda: abc_classes(shuffled), 1)
    t_rows, rows = best(lambda: abc_classes(values).rows(), 1)
    t_conc, _ = best(lambda: concentration(values), 1)

    base_counts = dict(zip("ABC", np.bincount(base, minlength=3).tolist(), strict=True))
    assert (
        res_arrays.counts()
        == res_map.counts()
        == res_shuf.counts()
        == {c: sum(r.cls == c for r in rows) for c in "ABC"}
    )
    print(f"values: {n:,} lognormal(8, 1.5) rounded to cents, seed {SEED}; best of {args.repeat} where marked *")
    line = "{:<58} {:8.3f} s  {:6.2f}x numpy"
    print(line.format("numpy sort + cumsum (float, no id tie-break) *", t_numpy, 1.0) + f"  classes {base_counts}")
    print(
        line.format("abc_classes_arrays(ids, cents) exact int64 *", t_arrays, t_arrays / t_numpy)
        + f"  classes {res_arrays.counts()}"
    )
    print(line.format("abc_classes(Mapping[str, Decimal]), ids in order *", t_map, t_map / t_numpy))
    print(line.format("abc_classes(Mapping[str, Decimal]), ids shuffled", t_shuf, t_shuf / t_numpy))
    print(line.format("abc_classes(Mapping) + all 1,000,000 AbcRow objects", t_rows, t_rows / t_numpy))
    print(line.format("concentration(Mapping[str, Decimal])", t_conc, t_conc / t_numpy))
    if args.reference:
        t_ref, ref = best(lambda: _abc_classes_exact(values, Decimal("0.80"), Decimal("0.95")), 1)
        assert ref == rows
        print(line.format("pure-Decimal reference path (before issue 3)", t_ref, t_ref / t_numpy))


if __name__ == "__main__":
    main()
