"""Essays built to stall a pattern matcher: valid inputs (at most 50,000 characters, printable text,
newlines and tabs) that a careless regular expression scans in quadratic time.

Used by the extraction tests, the matching-budget tests and the matcher bench, so that every tier
measures the same inputs. Every essay is exactly ``size`` characters long.
"""

from __future__ import annotations

from collections.abc import Callable

LONGEST_ESSAY = 50_000

_BODY = "Det här är en uppsats om skolan. Den handlar om hur eleverna har det. "


def _fill(head: str, size: int, tail: str = "") -> str:
    """``head`` + prose + ``tail``, cut or padded to exactly ``size`` characters."""
    room = size - len(head) - len(tail)
    if room <= 0:
        return (head + tail)[:size]
    body = (_BODY * (room // len(_BODY) + 1))[:room]
    return head + body + tail


def header_spaces(size: int = LONGEST_ESSAY) -> str:
    """A header line that is almost all spaces, with a name at its end (the reported 96 to 189 s)."""
    run = " " * (size - 1_000)
    return _fill(f"Uppsats{run}Anna Lind\n", size)


def whitespace_runs(size: int = LONGEST_ESSAY) -> str:
    """Header lines of long mixed runs (spaces, tabs, no-break spaces) between near-names."""
    run = " \t\u00a0\u2003" * ((size - 1_000) // 12)
    lines = [f"Uppsats{run}Anna Lnid", f"Ana{run}Lind", f"Namn:{run}Anna Lindh{run}Klass: 9B"]
    return _fill("\n".join(lines) + "\n", size)


def tabs(size: int = LONGEST_ESSAY) -> str:
    """A signature whose given name and surname are a long run of tabs apart."""
    return _fill("Uppsats\n\n", size, tail="\n\nAnna" + "\t" * (size - 2_000) + "Lind")


def near_names(size: int = LONGEST_ESSAY) -> str:
    """A self-introduction of near-names separated by long runs that almost separate names."""
    unit = "Anna Lind" + " " * 400 + "och" + " " * 400 + "Karl Olsson" + " " * 400 + "/x" + " " * 400
    line = (unit * (size // len(unit) + 1))[: size - 2_000]
    return _fill(f"Jag heter {line}\n", size)


def no_spaces(size: int = LONGEST_ESSAY) -> str:
    """One long line without spaces: letters, then address characters, then dashes."""
    third = size // 3
    return "A" * third + "x.y_" * (third // 4) + "-" * (size - third - 4 * (third // 4))


def many_lines(size: int = LONGEST_ESSAY) -> str:
    """Tens of thousands of short lines: labels, self-introductions, addresses and names."""
    unit = "Namn:\nJag heter  \nAnna L\na@b\n\u2013\n"
    return (unit * (size // len(unit) + 1))[:size]


def bylines(size: int = LONGEST_ESSAY) -> str:
    """A header line of 'by' keywords each followed by a run of spaces."""
    unit = "by" + " " * 98
    return _fill("Titel " + (unit * (size // len(unit)))[: size - 1_000] + "\n", size)


def table_rows(size: int = LONGEST_ESSAY) -> str:
    """Header rows of hundreds of labelled columns, each ending in a smiley, line after line."""
    line = " | ".join(["Namn :)"] * 300)[:1_990] + "\n"
    return (line * (size // len(line) + 1))[:size]


HOSTILE_ESSAYS: dict[str, Callable[[int], str]] = {
    "header_spaces": header_spaces,
    "whitespace_runs": whitespace_runs,
    "tabs": tabs,
    "near_names": near_names,
    "no_spaces": no_spaces,
    "many_lines": many_lines,
    "bylines": bylines,
    "table_rows": table_rows,
}
