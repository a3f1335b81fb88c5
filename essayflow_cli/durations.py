"""Durations as people type them (``15m``, ``2h``, ``30s``, ``1h30m``) and as tables show them.

The one reader of durations for every command (``batch list --stalled``, ``events
redrive --since``): whole numbers of days, hours, minutes and seconds, largest first.
Pure."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def parse_duration(text: str) -> timedelta:
    """``15m`` → 15 minutes, ``1h30m`` → 90 minutes. ValueError for anything else, with
    what was expected."""
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"{text!r} is not a duration like 30s, 15m, 2h or 1h30m")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


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
