"""Charts drawn as SVG on the server: no JavaScript, no CDN, readable on a phone."""

from __future__ import annotations

from html import escape

WIDTH = 640
ROW = 26


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0  # "<5" draws no bar


def bars(items: list[tuple[str, object]], unit: str = "") -> str:
    """Horizontal bars, one row per item, the value printed at the end."""
    if not items:
        return '<p class="empty">—</p>'
    top = max((_number(v) for _, v in items), default=0) or 1
    label_w, bar_w = 220, WIDTH - 220 - 70
    height = ROW * len(items) + 8
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" xmlns="http://www.w3.org/2000/svg">'
    ]
    for n, (label, value) in enumerate(items):
        y = 4 + n * ROW
        width = max(0.0, bar_w * _number(value) / top)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end">{escape(str(label)[:32])}</text>'
        )
        parts.append(f'<rect class="bar" x="{label_w}" y="{y + 4}" width="{width:.1f}" height="{ROW - 8}"/>')
        parts.append(f'<text x="{label_w + width + 6:.1f}" y="{y + 17}">{escape(str(value))}{unit}</text>')
    parts.append("</svg>")
    return "".join(parts)


def columns(items: list[tuple[str, object]]) -> str:
    """Vertical columns over time (e.g. active learners per day), first and last dates labelled."""
    if not items:
        return '<p class="empty">—</p>'
    height, base = 200, 170
    top = max((_number(v) for _, v in items), default=0) or 1
    step = (WIDTH - 40) / len(items)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" xmlns="http://www.w3.org/2000/svg">'
    ]
    for n, (label, value) in enumerate(items):
        h = (base - 20) * _number(value) / top
        x = 20 + n * step
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{base - h:.1f}" '
            f'width="{max(step - 2, 1):.1f}" height="{h:.1f}">'
            f"<title>{escape(str(label))}: {escape(str(value))}</title></rect>"
        )
    parts.append(f'<text x="20" y="{height - 8}">{escape(str(items[0][0]))}</text>')
    parts.append(
        f'<text x="{WIDTH - 20}" y="{height - 8}" text-anchor="end">{escape(str(items[-1][0]))}</text>'
    )
    parts.append(f'<text x="{WIDTH - 20}" y="14" text-anchor="end">max {escape(str(int(top)))}</text>')
    parts.append("</svg>")
    return "".join(parts)
