"""Name normalisation shared by extraction and matching.

Names are compared in a folded form: case-folded, diacritics stripped (Åsa Öberg -> asa oberg) and
hyphens removed inside a word (Al-Sayed -> alsayed), so that the spelling variants students and
scanners produce compare equal before any fuzzy scoring is needed.
"""

from __future__ import annotations

import re
import unicodedata

# Letters that NFKD does not decompose into base letter + combining mark.
_SPECIAL_LETTERS = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "đ": "d", "ł": "l", "þ": "th"})

# Scanners confuse these digits with the letters they resemble; a digit inside a name is never real.
_OCR_DIGITS = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "6": "b", "8": "b", "|": "l"})

# The combining diacritical mark blocks that NFKD leaves behind the base letter.
_COMBINING_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
# Hyphens and apostrophes, typographic ones included (U+2019, U+02BC, the acute accent U+00B4, the grave).
_WORD_JOINERS = re.compile(r"[-\u2010\u2011\u2012\u2013\u2014'\u2019\u02bc`\u00b4.]")
_NAME_WORD = re.compile(r"[^\W_]+(?:[-\u2010\u2011'\u2019\u02bc`\u00b4][^\W_]+)*\.?", re.UNICODE)

# A line longer than this is prose: nobody writes their name on it. Every span the extraction reads
# names in is at most this long, which bounds the work of any pattern on it.
MAX_LINE_CHARACTERS = 2_000
# A run of whitespace inside a line; lines are split first, so it never spans a line break.
_WHITESPACE_RUN = re.compile(r"\s{2,}")
# What a run stands for after normalisation: still a gap between two fields ('Namn: Anna  Klass: 9B').
_GAP = "  "


def essay_lines(text: str) -> list[str]:
    """The non-empty lines of a text, stripped, each run of whitespace inside written as two spaces.

    A single space or tab is kept as written (a tab ends a field, a space does not), and a longer run
    means the same whatever its length, so after this no pattern ever sees a run longer than two
    characters: 49,000 spaces cost what two do.
    """
    lines: list[str] = []
    for raw in text.splitlines():
        line = _WHITESPACE_RUN.sub(_GAP, raw).strip()
        if line:
            lines.append(line)
    return lines


def fold(text: str) -> str:
    """Case-fold and strip diacritics: 'Linnéa' -> 'linnea', 'Øst' -> 'ost'."""
    folded = text.casefold()
    if folded.isascii():
        return folded
    decomposed = unicodedata.normalize("NFKD", folded.translate(_SPECIAL_LETTERS))
    return _COMBINING_MARKS.sub("", decomposed)


def repair_ocr(word: str) -> str:
    """Undo digit-for-letter scanning errors in a written word ('K1ara' -> 'Klara').

    Only words with some lower-case letters are repaired: codes such as 'SV3' or '9B' are class and
    course labels, not damaged names.
    """
    if word.isalpha():
        # Nothing to repair (the common case, checked without a Python-level loop).
        return word
    if sum(ch.islower() for ch in word) >= 2:
        return word.translate(_OCR_DIGITS)
    return word


def compact(word: str) -> str:
    """Folded form of one name word with hyphens and apostrophes removed ('Al-Sayed' -> 'alsayed')."""
    return _WORD_JOINERS.sub("", fold(repair_ocr(word)))


def word_parts(word: str) -> list[str]:
    """The folded parts of a hyphenated word ('Lindqvist-Berg' -> ['lindqvist', 'berg'])."""
    return [p for p in (compact(part) for part in re.split(r"[-\u2010\u2011\u2012\u2013\u2014]", word)) if p]


def name_words(text: str) -> list[str]:
    """Split a name span into its words, keeping hyphenated words and initials ('F.') whole.

    Words that still contain digits after OCR repair (dates, class codes) are not name words.
    """
    words = (repair_ocr(w) for w in _NAME_WORD.findall(text))
    return [w for w in words if not any(ch.isdigit() for ch in w)]


def is_initial(word: str) -> bool:
    """'F.' or a lone letter 'F' stands for a given name."""
    letters = word.rstrip(".")
    return len(letters) == 1 and letters.isalpha()
