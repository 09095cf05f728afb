"""Charts as inline SVG strings: no JavaScript, no CDN, readable in any browser and in a PDF.

Every label is escaped here, because the result is marked safe for the templates.
"""

from __future__ import annotations

from html import escape

from markupsafe import Markup

from shopper.survival import KMCurve

PALETTE = ["#1f5fa8", "#c0392b", "#2e8b57", "#8e44ad", "#d68910", "#16a085"]
FONT = 'font-family="Noto Sans CJK SC, sans-serif" font-size="11"'


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 4, 6, 12, 24, 48, 72, 120, 168, 240, 336, 480, 720, 1440, 2160, 4320, 8760):
        if value <= step:
            return float(step)
    return float(value)


def _ticks(maximum: float, count: int = 4) -> list[float]:
    return [maximum * i / count for i in range(count + 1)]


def _hours_label(h: float) -> str:
    return f"{h:g}h" if h < 48 else f"{h / 24:g}d"


def _frame(width: int, height: int, title: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>' + "".join(body) + "</svg>"
    )


def km_chart(curves: dict[str, KMCurve], *, title: str, width: int = 520, height: int = 240) -> Markup:
    """Kaplan–Meier step curves: share still waiting (y) against hours since submission (x).
    Censored tests are ticks on the curve; the dashed line is the median (0.5)."""
    left, right, top, bottom = 44, 16, 22, 30
    pw, ph = width - left - right, height - top - bottom
    legend_y = height + 4
    height += 16 * len(curves) + 6
    longest = max([max(c.times + c.censored_times, default=0.0) for c in curves.values()] + [1.0])
    xmax = _nice_max(longest)
    x = lambda t: left + pw * min(t, xmax) / xmax  # noqa: E731
    y = lambda s: top + ph * (1 - s)  # noqa: E731
    body = [f'<text x="{left}" y="14" {FONT} font-weight="bold">{escape(title)}</text>',
            f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>',
            f'<line x1="{left}" x2="{left + pw}" y1="{y(0.5):.1f}" y2="{y(0.5):.1f}" stroke="#bbb" stroke-dasharray="4 3"/>']
    for t in _ticks(xmax):
        body.append(f'<text x="{x(t):.1f}" y="{legend_y - 16}" {FONT} text-anchor="middle">{_hours_label(t)}</text>')
    for s in (0, 0.5, 1):
        body.append(f'<text x="{left - 4}" y="{y(s) + 4:.1f}" {FONT} text-anchor="end">{s:g}</text>')
    for i, (label, curve) in enumerate(curves.items()):
        color = PALETTE[i % len(PALETTE)]
        points, last_s = [f"{x(0):.1f},{y(1):.1f}"], 1.0
        for t, s in zip(curve.times, curve.survival):
            points.append(f"{x(t):.1f},{y(last_s):.1f}")
            points.append(f"{x(t):.1f},{y(s):.1f}")
            last_s = s
        end = max([longest] + curve.censored_times)
        points.append(f"{x(end):.1f},{y(last_s):.1f}")
        body.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{" ".join(points)}"/>')
        for t in curve.censored_times:
            s = curve.at(t)
            body.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{y(s) - 4:.1f}" y2="{y(s) + 4:.1f}" stroke="{color}"/>')
        median = curve.median()
        legend = f"{label} (n={curve.n}, median {'not reached' if median is None else _hours_label(round(median, 1))})"
        body.append(f'<rect x="{left}" y="{legend_y + 16 * i}" width="10" height="10" fill="{color}"/>')
        body.append(f'<text x="{left + 14}" y="{legend_y + 9 + 16 * i}" {FONT}>{escape(legend)}</text>')
    return _frame(width, height, title, body)


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    v = sorted(values)

    def q(p: float) -> float:
        k = (len(v) - 1) * p
        lo, hi = int(k), min(int(k) + 1, len(v) - 1)
        return v[lo] + (v[hi] - v[lo]) * (k - lo)

    return q(0.25), q(0.5), q(0.75)


def strip_chart(rows: list[tuple[str, list[float], list[float]]], *, title: str, width: int = 520) -> Markup:
    """One row per series: answered times as dots with a box (quartiles of the answered), the
    still-unanswered (censored) times as open circles with an arrow — they are at least that long."""
    left, right, top, row_h = 110, 20, 24, 40
    height = top + row_h * max(len(rows), 1) + 26
    pw = width - left - right
    longest = max([max(a + c, default=0.0) for _, a, c in rows] + [1.0])
    xmax = _nice_max(longest)
    x = lambda t: left + pw * min(t, xmax) / xmax  # noqa: E731
    body = [f'<text x="{left}" y="14" {FONT} font-weight="bold">{escape(title)}</text>']
    for t in _ticks(xmax):
        body.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" y2="{height - 24}" stroke="#eee"/>')
        body.append(f'<text x="{x(t):.1f}" y="{height - 10}" {FONT} text-anchor="middle">{_hours_label(t)}</text>')
    for i, (label, answered, censored) in enumerate(rows):
        cy = top + row_h * i + row_h / 2
        color = PALETTE[i % len(PALETTE)]
        body.append(f'<text x="{left - 6}" y="{cy + 4:.1f}" {FONT} text-anchor="end">{escape(label)}</text>')
        if answered:
            q1, med, q3 = _quartiles(answered)
            body.append(f'<rect x="{x(q1):.1f}" y="{cy - 9:.1f}" width="{max(x(q3) - x(q1), 1):.1f}" height="18" '
                        f'fill="{color}" fill-opacity="0.15" stroke="{color}"/>')
            body.append(f'<line x1="{x(med):.1f}" x2="{x(med):.1f}" y1="{cy - 9:.1f}" y2="{cy + 9:.1f}" stroke="{color}" stroke-width="2"/>')
        for t in answered[:2000]:
            body.append(f'<circle cx="{x(t):.1f}" cy="{cy:.1f}" r="2.5" fill="{color}"/>')
        for t in censored[:2000]:
            body.append(f'<circle cx="{x(t):.1f}" cy="{cy:.1f}" r="3" fill="white" stroke="{color}"/>')
        if censored:
            body.append(f'<text x="{left - 6}" y="{cy + 16:.1f}" {FONT} text-anchor="end" fill="#666">'
                        f'{len(censored)} unanswered ○</text>')
    return _frame(width, height, title, body)


def trend_chart(points: list[tuple[str, float | None]], *, title: str, width: int = 520, height: int = 200) -> Markup:
    """The total score (0–100) over periods; a period not assessed is a gap, not a zero."""
    left, right, top, bottom = 36, 16, 34, 30
    pw, ph = width - left - right, height - top - bottom
    n = max(len(points), 1)
    x = lambda i: left + (pw * (i + 0.5) / n)  # noqa: E731
    y = lambda v: top + ph * (1 - v / 100)  # noqa: E731
    body = [f'<text x="{left}" y="14" {FONT} font-weight="bold">{escape(title)}</text>',
            f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>']
    for v in (0, 50, 100):
        body.append(f'<text x="{left - 4}" y="{y(v) + 4:.1f}" {FONT} text-anchor="end">{v}</text>')
    segment: list[str] = []
    for i, (label, value) in enumerate(points):
        body.append(f'<text x="{x(i):.1f}" y="{height - 12}" {FONT} text-anchor="middle">{escape(label)}</text>')
        if value is None:
            if len(segment) > 1:
                body.append(f'<polyline fill="none" stroke="{PALETTE[0]}" stroke-width="2" points="{" ".join(segment)}"/>')
            segment = []
            body.append(f'<text x="{x(i):.1f}" y="{y(50):.1f}" {FONT} text-anchor="middle" fill="#999">n/a</text>')
            continue
        segment.append(f"{x(i):.1f},{y(value):.1f}")
        body.append(f'<circle cx="{x(i):.1f}" cy="{y(value):.1f}" r="3" fill="{PALETTE[0]}"/>')
        body.append(f'<text x="{x(i):.1f}" y="{y(value) - 6:.1f}" {FONT} text-anchor="middle">{value:.1f}</text>')
    if len(segment) > 1:
        body.append(f'<polyline fill="none" stroke="{PALETTE[0]}" stroke-width="2" points="{" ".join(segment)}"/>')
    return _frame(width, height, title, body)
