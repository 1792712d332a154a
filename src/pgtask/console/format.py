"""Short human forms of numbers for narrow columns; pure functions."""

from __future__ import annotations

from collections.abc import Sequence

BLOCKS = "▁▂▃▄▅▆▇█"
DASH = "–"


def duration(seconds: float | None) -> str:
    """850ms, 12.3s, 4m05s, 2h10m, 3d04h; '–' for unknown."""
    if seconds is None:
        return DASH
    if seconds < 0:
        seconds = 0.0
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def rate(per_second: float | None) -> str:
    """412/s-style rates without the unit: 412, 41.2, 4.12, 0.02; '·' for zero."""
    if per_second is None:
        return DASH
    if per_second == 0:
        return "·"
    if per_second >= 100:
        return f"{per_second:,.0f}"
    if per_second >= 10:
        return f"{per_second:.1f}"
    if per_second >= 0.01:
        return f"{per_second:.2f}"
    return "<0.01"


def count(n: int | None) -> str:
    """1,234 up to a million, then 1.2M."""
    if n is None:
        return DASH
    if n >= 10_000_000:
        return f"{n / 1_000_000:.0f}M"
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    return f"{n:,}"


def sparkline(values: Sequence[float], width: int | None = None) -> str:
    """One block character per value (the last `width` values), scaled to the maximum."""
    if width is not None:
        values = values[-width:] if width > 0 else ()
    top = max(values, default=0)
    if top <= 0:
        return BLOCKS[0] * len(values)
    last = len(BLOCKS) - 1
    return "".join(BLOCKS[min(last, round(v / top * last))] for v in values)
