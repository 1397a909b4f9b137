"""The overview's small SVG pictures, drawn on the server: no script, no style attribute (the
page's policy allows neither); colours are SVG `fill` presentation attributes."""

from __future__ import annotations

from html import escape

LIGHT = (0xDC, 0xFC, 0xE7)  # #dcfce7, the fewest reports
DARK = (0x14, 0x53, 0x2D)  # #14532d, the most


def heat_colour(value: int, top: int) -> str:
    """A colour from light to dark as `value` goes from 0 to `top`."""
    share = min(1.0, max(0.0, value / top)) if top > 0 else 0.0
    r, g, b = (round(lo + (hi - lo) * share) for lo, hi in zip(LIGHT, DARK, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def heat(value: int, top: int, width: int = 120, height: int = 18) -> str:
    """One table row's heat mark: a rectangle whose colour darkens with the count."""
    label = f"{value} report{'s' * (value != 1)}"
    return (
        f'<svg class="heat" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f'<rect width="{width}" height="{height}" rx="3" fill="{heat_colour(value, top)}">'
        f"<title>{escape(label)}</title></rect></svg>"
    )
