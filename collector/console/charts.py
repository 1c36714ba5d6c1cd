"""Server-rendered inline SVG charts (no JavaScript, no CDN)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import escape

COLORS = {"delivered": "#2e7d32", "retrying": "#f9a825", "dead": "#c62828", "skipped": "#90a4ae"}


def outcomes_chart(rows: list[dict], hours: int = 24, width: int = 720, height: int = 180) -> str:
    """Stacked bars: delivery outcomes per hour over the last ``hours``."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    slots = [now - timedelta(hours=h) for h in range(hours - 1, -1, -1)]
    by = {(r["hour"], r["outcome"]): r["n"] for r in rows}
    totals = [sum(by.get((s, o), 0) for o in COLORS) for s in slots]
    top = max([*totals, 1])
    pad_l, pad_b = 40, 20
    bw = (width - pad_l) / len(slots)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" aria-label="delivery outcomes per hour">',
             f'<text x="0" y="12" font-size="10" fill="#555">{top}</text>',
             f'<text x="0" y="{height - pad_b}" font-size="10" fill="#555">0</text>',
             f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width}" y2="{height - pad_b}" stroke="#999"/>']
    for i, s in enumerate(slots):
        y = height - pad_b
        for outcome, color in COLORS.items():
            n = by.get((s, outcome), 0)
            if not n:
                continue
            h = (height - pad_b - 10) * n / top
            y -= h
            parts.append(f'<rect x="{pad_l + i * bw + 1:.1f}" y="{y:.1f}" width="{bw - 2:.1f}" height="{h:.1f}" '
                         f'fill="{color}"><title>{escape(s.strftime("%H:00"))} {outcome}: {n}</title></rect>')
        if i % 4 == 0:
            parts.append(f'<text x="{pad_l + i * bw:.1f}" y="{height - 5}" font-size="10" fill="#555">'
                         f'{s.strftime("%H:00")}</text>')
    parts.append("</svg>")
    return "".join(parts)
