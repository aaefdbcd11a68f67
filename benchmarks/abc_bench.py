"""Time abc_classes on 1,000,000 seeded lognormal values against a plain numpy sort-and-cumsum."""
from __future__ import annotations

import time
from decimal import Decimal

import numpy as np

from kamrules.abc import abc_classes

N = 1_000_000
SEED = 20260701


def numpy_classes(values: np.ndarray, a_cut: float = 0.80, b_cut: float = 0.95) -> np.ndarray:
    """The float baseline: same ranking and crossing rule, no exactness and no tie-break by id."""
    order = np.argsort(-values, kind="stable")
    cum = np.cumsum(values[order])
    before = (cum - values[order]) / cum[-1]
    cls = np.where(before >= b_cut, 2, np.where(before >= a_cut, 1, 0))
    out = np.empty_like(cls)
    out[order] = cls
    return out


def main() -> None:
    """Run both once on the same data and print the times and their ratio."""
    rng = np.random.default_rng(SEED)
    floats = np.round(rng.lognormal(mean=8.0, sigma=1.5, size=N), 2)
    values = {f"acct{i:07d}": Decimal(f"{x:.2f}") for i, x in enumerate(floats)}

    t0 = time.perf_counter()
    rows = abc_classes(values)
    t_exact = time.perf_counter() - t0

    t0 = time.perf_counter()
    base = numpy_classes(floats)
    t_numpy = time.perf_counter() - t0

    counts = {c: sum(1 for r in rows if r.cls == c) for c in "ABC"}
    base_counts = dict(zip("ABC", np.bincount(base, minlength=3).tolist()))
    print(f"values: {N:,} lognormal(8, 1.5), seed {SEED}")
    print(f"abc_classes (exact Decimal): {t_exact:8.3f} s  classes {counts}")
    print(f"numpy sort + cumsum (float): {t_numpy:8.3f} s  classes {base_counts}")
    print(f"ratio exact / numpy: {t_exact / t_numpy:,.0f}x")


if __name__ == "__main__":
    main()
