"""Charts of the HTML report as inline SVG: Pareto curves and the stage funnel, each with a text alternative.

Plain SVG text, no library and no script: the report works offline and prints as it shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from kamrules.kam.review import PortfolioReview

__all__ = ["funnel_svg", "pareto_points", "pareto_svg"]

# A curve of 20,000 accounts is drawn through at most this many points: the eye sees no more.
MAX_POINTS = 200
W, H, PAD = 320, 200, 30


def pareto_points(rv: PortfolioReview, metric: str) -> list[tuple[float, float]]:
    """The Pareto curve of one metric: (share of accounts, cumulative share of the metric), from (0, 0)."""
    rows = rv.ranked_abc(metric)
    n = len(rows)
    if n == 0:
        return []
    step = max(1, n // MAX_POINTS)
    picked = [*rows[step - 1 :: step], *([] if n % step == 0 else [rows[-1]])]
    return [(0.0, 0.0), *((r.rank / n, float(r.cumulative_share)) for r in picked)]


def _xy(x: float, y: float) -> str:
    return f"{PAD + x * (W - 2 * PAD):.1f},{H - PAD - y * (H - 2 * PAD):.1f}"


def pareto_svg(metric: str, points: Sequence[tuple[float, float]], top20: str) -> str:
    """One Pareto curve with its 80% line; the title and description say what it shows."""
    title = f"Pareto curve of {metric}"
    desc = f"Cumulative share of {metric} against the share of accounts, largest first; the top 20% hold {top20}."
    line = " ".join(_xy(x, y) for x, y in points)
    return (
        f'<svg role="img" aria-labelledby="t-{metric} d-{metric}" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
        f'class="chart" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="t-{metric}">{escape(title)}</title><desc id="d-{metric}">{escape(desc)}</desc>'
        f'<rect x="{PAD}" y="{PAD}" width="{W - 2 * PAD}" height="{H - 2 * PAD}" class="frame"/>'
        f'<line x1="{_xy(0, 0.8).split(",")[0]}" y1="{_xy(0, 0.8).split(",")[1]}" '
        f'x2="{_xy(1, 0.8).split(",")[0]}" y2="{_xy(1, 0.8).split(",")[1]}" class="cut"/>'
        f'<polyline points="{line}" class="curve"/>'
        f'<text x="{PAD}" y="{H - 8}" class="axis">0%</text>'
        f'<text x="{W - PAD}" y="{H - 8}" class="axis" text-anchor="end">100% of accounts</text>'
        f'<text x="{PAD - 4}" y="{PAD + 4}" class="axis" text-anchor="end">100%</text>'
        f'<text x="{PAD - 4}" y="{_xy(0, 0.8).split(",")[1]}" class="axis" text-anchor="end">80%</text>'
        f"</svg>"
    )


def funnel_svg(counts: Mapping[str, int], caption: str) -> str:
    """Horizontal bars, one per stage in path order, each labelled with its count."""
    width, bar, gap, label = 420, 22, 6, 130
    top = max(counts.values(), default=0) or 1
    height = len(counts) * (bar + gap) + gap
    bars = []
    for i, (stage, n) in enumerate(counts.items()):
        y = gap + i * (bar + gap)
        length = (width - label - 50) * n / top
        bars.append(
            f'<text x="{label - 6}" y="{y + bar * 0.7:.1f}" class="axis" text-anchor="end">{escape(stage)}</text>'
            f'<rect x="{label}" y="{y}" width="{length:.1f}" height="{bar}" class="bar"/>'
            f'<text x="{label + length + 6:.1f}" y="{y + bar * 0.7:.1f}" class="axis">{n:,}</text>'
        )
    desc = "; ".join(f"{s}: {n:,}" for s, n in counts.items())
    return (
        f'<svg role="img" aria-labelledby="t-funnel d-funnel" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" class="chart" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="t-funnel">{escape(caption)}</title><desc id="d-funnel">{escape(desc)}</desc>'
        + "".join(bars)
        + "</svg>"
    )
