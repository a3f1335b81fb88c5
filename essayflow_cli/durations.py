"""Durations as people type them (``15m``, ``2h``, ``30s``, ``1h30m``) and as tables show them.

Parsing is pytimeparse's; this module only insists on a non-negative span. Pure."""

from __future__ import annotations

from datetime import timedelta

from pytimeparse.timeparse import timeparse as _parse


def parse_duration(text: str) -> timedelta:
    """``15m`` → 15 minutes. ValueError for anything else, with what was expected."""
    seconds = _parse(text.strip()) if text.strip() else None
    if seconds is None or seconds < 0:
        raise ValueError(f"{text!r} is not a duration like 30s, 15m, 2h or 1h30m")
    return timedelta(seconds=seconds)


def format_duration(span: timedelta) -> str:
    """Two units at most, largest first: ``45s``, ``12m05s``, ``3h07m``, ``2d04h``."""
    total = max(0, int(span.total_seconds()))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"
