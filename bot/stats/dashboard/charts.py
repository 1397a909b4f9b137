"""Charts drawn as SVG on the server: no JavaScript, no CDN, readable on a phone.

Drawn narrow (WIDTH user units, about a phone's width) with each label on its own line above its
bar, never beside it: scaled to a 390 px screen the text stays at FONT × 0.9 ≈ 12.6 px, where a
640-wide chart shrank it to 7 px. The page caps a chart's width so that it does not grow huge on
a desktop either.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from html import escape

WIDTH = 360
FONT = 14  # user units; the stylesheet sets the same size on .chart
LINE = 17  # one line of label text
BAR = 14
LABEL_CHARS = 40  # characters of a label line: 40 × ~8 units of a wide glyph still fits in WIDTH
VALUE_ROOM = 56  # room right of the longest bar for its value ("16008", "100%")


def _number(value: object) -> float:
    # A hidden value ("<5", "too few answers") draws no bar.
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _lines(label: str, lines: int = 2) -> list[str]:
    """The label wrapped into at most `lines` lines, the last shortened with "…" if needed."""
    wrapped = textwrap.wrap(label, LABEL_CHARS, break_long_words=True) or [""]
    if len(wrapped) > lines:
        last = " ".join(wrapped[lines - 1 :])
        wrapped = [*wrapped[: lines - 1], last[: LABEL_CHARS - 1].rstrip() + "…"]
    return wrapped


def _svg(height: float) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height:g}" font-size="{FONT}" role="img" '
        'xmlns="http://www.w3.org/2000/svg">'
    )


def bars(
    items: Sequence[tuple[str, object] | tuple[str, object, str]],
    unit: str = "",
    *,
    fmt: Callable[[float], str] | None = None,
    top: float | None = None,
) -> str:
    """Horizontal bars, one row per item: its label above, the bar, the value at the bar's end.

    An item is (label, value) or (label, value, tooltip). A number is printed with `fmt` if given,
    else followed by `unit`; the longest bar is `top` (default: the largest value). A value that
    is text (a hidden count, "too few answers") draws no bar and is printed as it is.
    """
    if not items:
        return '<p class="empty">—</p>'
    top = top or max((_number(item[1]) for item in items), default=0) or 1
    bar_w = WIDTH - VALUE_ROOM
    rows, y = [], 0.0
    for item in items:
        label, value = str(item[0]), item[1]
        tooltip = str(item[2]) if len(item) > 2 else label  # type: ignore[misc]
        lines = _lines(label)
        width = max(0.0, bar_w * _number(value) / top)
        shown = str(value)  # a hidden value, as it is
        if isinstance(value, int | float):
            shown = fmt(value) if fmt else f"{value}{unit}"
        text = "".join(
            f'<tspan x="0" y="{y + FONT + LINE * n:g}">{escape(line)}</tspan>' for n, line in enumerate(lines)
        )
        bar_y = y + LINE * len(lines) + 4
        rows.append(
            f"<g><title>{escape(tooltip)}: {escape(shown)}</title>"
            f'<text class="label">{text}</text>'
            f'<rect class="bar" x="0" y="{bar_y:g}" width="{width:.1f}" height="{BAR}"/>'
            f'<text class="value" x="{width + 6:.1f}" y="{bar_y + BAR - 2:g}">{escape(shown)}</text></g>'
        )
        y = bar_y + BAR + 10
    return _svg(y) + "".join(rows) + "</svg>"


def columns(items: Sequence[tuple[str, object]], most: str = "max {n}") -> str:
    """Vertical columns over time (e.g. active learners per day), first and last dates labelled,
    and the tallest column's value (`most`, a format with {n})."""
    if not items:
        return '<p class="empty">—</p>'
    height, base = 170, 140
    top = max((_number(v) for _, v in items), default=0) or 1
    step = (WIDTH - 8) / len(items)
    parts = [_svg(height)]
    for n, (label, value) in enumerate(items):
        h = (base - 24) * _number(value) / top
        x = 4 + n * step
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{base - h:.1f}" '
            f'width="{max(step - 1, 0.5):.1f}" height="{h:.1f}">'
            f"<title>{escape(str(label))}: {escape(str(value))}</title></rect>"
        )
    parts.append(f'<text x="4" y="{height - 8}">{escape(str(items[0][0]))}</text>')
    parts.append(
        f'<text x="{WIDTH - 4}" y="{height - 8}" text-anchor="end">{escape(str(items[-1][0]))}</text>'
    )
    parts.append(
        f'<text x="{WIDTH - 4}" y="{FONT}" text-anchor="end">{escape(most.format(n=int(top)))}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
