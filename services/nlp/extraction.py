"""Where in an essay the author's name may be written, and what is written there.

Extraction is deliberately positional: author names sit in the header (labelled lines, a name line
above or beside the title), in a self-introduction, in a signature at the end, in an e-mail address
and in the file name. Names in the body of the essay are classmates, authors of books or people the
essay is about, so the body is never read for names. Whether a span really names a roster student is
decided by the matcher; extraction only says where a name could be and what kind of place that is.

Extraction takes time linear in the length of the essay whatever the essay holds, since a valid
essay may be written to stall a pattern matcher (50,000 characters of whitespace runs):

- whitespace is normalised before any pattern runs (`essay_lines`): a run inside a line is two
  spaces, whatever its length;
- names are read only in spans of at most `MAX_LINE_CHARACTERS` (a longer line is prose);
- no pattern nests quantifiers, and none lets alternatives scan the same characters again from every
  position: a pattern that starts with whitespace starts only where a run starts (a look-behind) and
  takes the run whole (possessive `++`), so each run is scanned a bounded number of times;
- a candidate found twice is kept once, at most `MAX_PEOPLE_PER_SPAN` names are read in one span and
  at most `MAX_CANDIDATES_PER_PLACE` self-introductions and addresses in the text, which bounds the
  matcher's work as well.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import PurePath

from rapidfuzz import fuzz, process

from services.nlp.normalize import MAX_LINE_CHARACTERS, essay_lines, fold, is_initial, name_words


class Signal(StrEnum):
    """The kind of place a candidate name was found; the matcher weighs them differently."""

    HEADER_LABEL = "header_label"
    FIRST_LINE = "first_line"
    TITLE = "title"
    SELF_INTRO = "self_intro"
    SIGNATURE = "signature"
    EMAIL = "email"
    EMAIL_NAME = "email_name"
    FILE_NAME = "file_name"


@dataclass(frozen=True)
class Candidate:
    """One possible author name (or address) and where it was found."""

    signal: Signal
    span: str
    words: tuple[str, ...] = ()
    # Written "Surname, Given names": the order is known rather than guessed.
    surname_first: bool = False
    # The span names more than one person, so it cannot identify a single author.
    shared_authorship: bool = False
    email: str | None = None


@dataclass(frozen=True)
class Extraction:
    candidates: list[Candidate] = field(default_factory=list)
    # The essay says it was written by a group, whether or not the names could be read.
    group_work: bool = False


# Labels that introduce the author. Matched fuzzily, so scanning noise ('Narnn:') still counts.
_AUTHOR_LABELS = (
    "namn", "name", "elev", "elevens namn", "elevnamn", "student", "studentens namn", "student name",
    "students name", "full name", "fullstandigt namn", "ditt namn", "your name", "forfattare", "author",
    "authors", "av", "by", "written by", "skriven av", "skrivet av", "skribent", "inlamnad av",
    "submitted by", "pupil", "pupil name", "deltagare", "elever", "students", "gruppmedlemmar",
    "group members", "medforfattare", "fran", "from", "avsandare", "sender",
)  # fmt: skip
# Labels whose value is someone or something other than the author: their names must never count.
_OTHER_LABELS = (
    "larare", "teacher", "handledare", "mentor", "examinator", "bedomare", "rattad av", "bedomd av",
    "betygsatt av", "kurs", "course", "klass", "class", "datum", "date", "amne", "subject", "titel",
    "title", "skola", "school", "grupp", "group", "uppgift", "assignment", "tema", "topic", "theme",
    "mottagare", "till", "to", "betyg", "grade", "kommentar", "comment", "ord", "words",
    "antal ord", "word count", "version", "program", "termin", "term", "kalla", "kallor", "sources",
    "rubrik", "heading", "instructor", "tutor", "supervisor", "professor", "e-post", "epost", "email",
    "e-mail", "mail", "telefon", "phone", "personnummer", "id",
)  # fmt: skip
_GIVEN_NAME_LABELS = ("fornamn", "first name", "given name", "forename")
_SURNAME_LABELS = ("efternamn", "last name", "surname", "family name")
# Words that make a label someone else's even when it also says 'name' ('Lärarens namn').
_OTHER_ROLES = (
    "larar", "teacher", "handledar", "mentor", "examinator", "instructor", "tutor", "supervisor",
    "professor", "rattad", "bedomd", "bedomare", "betygsatt", "granskad", "korrigerad", "reviewed",
    "reviewer", "graded", "marked", "supervised", "corrected", "checked", "assessed", "inspirerad",
    "inspired", "oversatt", "translated", "edited", "redigerad", "illustrerad", "illustrated",
    "foraldr", "parent", "mamma", "pappa", "mother", "father", "vardnadshavar", "guardian", "opponent",
    "klasskamrat", "classmate", "kompis", "friend", "peer", "kommentar", "comment", "feedback", "respons",
    "kamratrespons", "anteckning", "meddelande", "note", "message",
)  # fmt: skip
# 'Jag är Kevins pappa': who says so is not the author.
_RELATIVES = (
    *_OTHER_ROLES, "bror", "syster", "brother", "sister", "mom", "dad", "mum", "mormor", "farmor", "morfar",
    "farfar", "lillebror", "storebror", "lillasyster", "storasyster", "van", "kusin", "cousin",
)  # fmt: skip
# The first word of a letter's greeting: the name after it is the addressee's, never the author's.
_GREETINGS = frozenset({
    "hej", "hejsan", "hejhej", "halla", "hallo", "tjena", "tjenare", "tja", "morsning", "hi", "hello", "hey",
    "dear", "dearest", "kara", "kare", "basta", "god", "goddag", "greetings",
})  # fmt: skip
_COMPANION_SEPARATORS = frozenset({"med", "with"})
# A line of its own starting with one of these is about someone ('Om Kevin Ek', 'Intervju: ...').
_ABOUT_WORDS = frozenset({"om", "about", "intervju", "interview", "portratt", "portrait", "biografi", "biography"})
_HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "dr", "prof", "herr", "fru", "froken", "magister", "lektor"})
_PLURAL_AUTHOR_LABELS = frozenset({"authors", "elever", "students", "gruppmedlemmar", "group members", "deltagare"})
_SINGLE_AUTHOR_LABELS = frozenset({"namn", "name", "elev", "elevens namn", "elevnamn", "student", "student name"})
_ALL_LABELS = _AUTHOR_LABELS + _GIVEN_NAME_LABELS + _SURNAME_LABELS + _OTHER_LABELS
_AUTHOR_LABEL_WORDS = ("namn", "name", "elev", "student", "forfattare", "author", "skribent", "pupil")
_LABEL_MIN_SCORE = 75.0

_GROUP_MARKERS = (
    "grupparbete", "grupprojekt", "gruppuppgift", "grupprapport", "group work", "group project",
    "groupwork", "group assignment", "group essay", "gruppmedlemmar", "group members", "medforfattare",
    "co-author", "coauthor", "vi som skrivit", "skriven tillsammans", "written together",
)  # fmt: skip

# Literal alternatives only: one pass over the text, no backtracking.
_GROUP_MARKER = re.compile("|".join(re.escape(marker) for marker in _GROUP_MARKERS))

# "by"/"av" clauses and signature phrases; the name follows.
_BYLINE = re.compile(
    r"^(?P<before>.*?)(?:^|\s)(?P<keyword>skriven av|skrivet av|written by|inlämnad av|submitted by|av|by)\s++"
    r"(?P<value>\S.*)$",
    re.IGNORECASE,
)
_SIGN_OFF = re.compile(
    r"^(?:(?:med vänliga hälsningar|vänliga hälsningar|varma hälsningar|många hälsningar|hälsningar från|"
    r"hälsningar|hälsning|mvh|kramar från|kram från|många kramar|kramar|kram|puss och kram|"
    r"best regards|kind regards|warm regards|regards|yours sincerely|sincerely|best wishes|cheers|"
    r"love from|lots of love|with love|from|från|din vän|er vän|your friend|yours|tack för mig|hej då|hejdå|"
    r"ha det bra|ha det så bra|vi ses|vi hörs|take care|see you)(?![^\W\d_])"
    r"(?:\s++(?:från|from)(?![^\W\d_]))?"
    r"|(?:/+|[-\u2013\u2014~]+))[\s,:!.]*",
    re.IGNORECASE,
)
_SELF_INTRO = re.compile(
    r"(?:^|(?<=[\s(]))(?P<phrase>jag heter|mitt namn är|mitt namn ar|my name is|i am called|i'm called|"
    r"i am|i'm|jag är|vi heter|we are|our names are|våra namn är)\s++(?P<value>[^\n]+)",
    re.IGNORECASE,
)
_PLURAL_INTRO = frozenset({"vi heter", "we are", "our names are", "våra namn är"})
# A second 'Label:' on the same line ends the first field ('Namn: Anna Lind   Klass: 9B'): a gap of
# two or more spaces, a tab, a bar, or a single space before 'Label:'. The field ends where the first
# such run starts, and a run that starts none of these is a single space, so only run starts are tried.
_NEXT_FIELD = re.compile(r"(?<!\s)(?:\s{2}|\t|\s\|\s|\s(?=[^\W\d_][\w-]{1,20}\s?:))")
# Between the columns of a table row ('Namn | Klass | Kurs', or tab-separated); a double space inside
# running text (a scan) is no column.
_COLUMN_SEPARATOR = re.compile(r"\s\|\s|\t")
_LABELLED_LINE = re.compile(r"^\s*+(?P<label>[^\W\d_][^:;]{0,28}?)\s*+[:;]\s*+(?P<value>.*)$")
# An address starts where a run of address characters starts: without the look-behind every
# position inside a long run without '@' (a pasted blob, a line of underscores) is retried, which is
# quadratic in the run's length (a 50,000-character run took 24 s).
_EMAIL = re.compile(r"(?<![\w.+'-])[\w.+'-]++@[\w-]++(?:\.[\w-]++)++", re.UNICODE)
# Between a title and a name beside it. A separator is a whitespace run taken from where it starts
# (`(?<!\s)`, possessive), or starts with the separator itself: with `\s*` in front instead, every
# position inside a long run scanned the rest of the run again before failing, quadratic in the
# run's length (49,000 spaces took minutes).
_TITLE_SEPARATOR = re.compile(
    r"(?<!\s)\s++[-\u2013\u2014|/]\s++|(?<!\s)\s++[\u2013\u2014|]\s*+|[\u2013\u2014|]\s*+|[()\[\]]"
)
# Between two people's names (run starts only, as above).
_NAME_SEPARATOR = re.compile(
    r"(?<!\s)\s++(?:och|and|&|samt|\+|med|with|og|und)\s++|(?<!\s)\s++[;/&+]\s*+|[;/&+]\s*+", re.IGNORECASE
)
_SENTENCE = re.compile(r"[^.!?]*+")
_YEAR_OR_PAGE = re.compile(r"\d{3}")
_ADDRESS_WORD_SEPARATOR = re.compile(r"[._+\-'\d]++")
_CASE_CHANGE = re.compile(r"(?<=[a-zåäöé])(?=[A-ZÅÄÖÉ])")
_FILE_NAME_SEPARATOR = re.compile(r"[\s_.+\-,()\[\]]++")
_EMOTICON_LENGTH = 4
_MAX_TRAILING_EMOTICONS = 8
_LETTER_EMOTICONS = frozenset({"xd", "xdd", "<3", "<33", "xp"})
_SEPARATOR_MARKS = frozenset("-\u2013\u2014|/&+")
# Particles that may stay lower-case inside a name ('Ludwig van Beethoven').
_PARTICLES = frozenset({"af", "al", "av", "bin", "da", "de", "del", "der", "di", "du", "el", "la", "le", "van", "von"})

# Two or three lower-case words and nothing else.
# A word may hold an apostrophe ('o'brien'); the apostrophe is never a letter, so nothing backtracks.
_LOWER_WORD = r"[^\W\d_A-ZÅÄÖ]+(?:['\u2019\u00b4`][^\W\d_A-ZÅÄÖ]+)?"
_LOWER_CASE_NAME_LINE = re.compile(rf"{_LOWER_WORD}(?:[- ]{_LOWER_WORD}){{1,2}}")
_HEADER_LINES = 8
# At most this many lines of prose above the header are a note (a parent's, a reviewer's) over it.
_NOTE_LINES = 2
# A header row has a few columns; a line of a thousand bars is not read as one.
_MAX_COLUMNS = 12
# 'Vi ses! Kevin Ek': a name this short after a closing sentence on the last lines is a signature.
_SIGNATURE_AFTER_SENTENCE_WORDS = 3
# A line labelled with the author's name ('Namn: ...') counts this far down, under a longer note.
_AUTHOR_LINE_LINES = 12
_FOOTER_LINES = 3
_MAX_NAME_WORDS = 5
# A header line this long is prose: the body has started.
_PROSE_WORDS = 9
# ... and so is a shorter line that ends like a sentence.
_SENTENCE_WORDS = 4
# Self-introductions and addresses may be anywhere in the text; an essay has one or two of each, so
# more than this is noise (or an attack) and is not read.
MAX_CANDIDATES_PER_PLACE = 16
# A span naming more people than this is group work whoever they are (every score is capped anyway);
# reading the rest would only multiply the matcher's work.
MAX_PEOPLE_PER_SPAN = 8


def extract_candidates(text: str, file_name: str) -> Extraction:
    """All places in the essay and its file name that may name the author."""
    lines = essay_lines(text)
    header, end = _header_lines(lines)
    # A line too long to be a name line is prose: not read for a signature.
    footer = [line for line in lines[end:][-_FOOTER_LINES:] if len(line) <= MAX_LINE_CHARACTERS]
    candidates: list[Candidate] = []
    group_work = any(_mentions_group(line) for line in header + footer)

    candidates.extend(_region_candidates(header, in_header=True))
    candidates.extend(_region_candidates(_author_lines_below(lines[end:_AUTHOR_LINE_LINES]), in_header=True))
    candidates.extend(_region_candidates(footer, in_header=False))
    candidates.extend(_self_introductions("\n".join(lines)))
    candidates.extend(_emails(lines))
    candidates.extend(_file_name_candidates(file_name))

    candidates = list(dict.fromkeys(candidates))
    group_work = group_work or any(c.shared_authorship for c in candidates)
    return Extraction(candidates=candidates, group_work=group_work)


def _header_lines(lines: list[str]) -> tuple[list[str], int]:
    """The header lines, and the index of the first line after them."""
    header: list[str] = []
    top = lines[:_HEADER_LINES]
    notes = 0
    while notes < min(_NOTE_LINES, len(top) - 1) and _is_prose(top[notes]) and not _LABELLED_LINE.match(top[notes]):
        notes += 1
    # Only above a header that has a body under it: in a short essay a name line after the prose is the
    # signature.
    under_a_note = notes and notes < len(lines) - _FOOTER_LINES
    if under_a_note and len(top[notes]) <= MAX_LINE_CHARACTERS and not _is_prose(top[notes]):
        # A note above the header ('Hej! Ebba har varit sjuk ...', then 'Ebba Lindqvist-Berg'): someone
        # else's words, not read, and the header goes on under it.
        top = top[notes:]
    else:
        notes = 0
    label_alone = False
    for line in top:
        if len(line) > MAX_LINE_CHARACTERS:
            break
        labelled = _LABELLED_LINE.match(line)
        if _is_prose(line) and not labelled and not label_alone:
            # A labelled line is a header field however long its value: a reviewer's comment
            # ('Kommentar från Ali: ...') or a note to the teacher above the author's line, also
            # with the label alone and the comment on the next line.
            break
        label_alone = labelled is not None and not labelled["value"]
        header.append(line)
    return header, notes + len(header)


def _author_lines_below(lines: list[str]) -> list[str]:
    """Lines labelled with the author's name under a note or a comment that ended the header."""
    found: list[str] = []
    for line in lines:
        if len(line) > MAX_LINE_CHARACTERS // 10:
            continue
        labelled = _LABELLED_LINE.match(line)
        if labelled and labelled["value"] and _classify_label(labelled["label"]) in _SINGLE_AUTHOR_LABELS:
            found.append(line)
    return found


def _is_prose(line: str) -> bool:
    """A line of running text, not a header line; fields ('Anna Lind | 9B | Svenska 2') count apart."""
    if "|" in line or "\t" in line:
        words = max(len(field.split()) for field in _COLUMN_SEPARATOR.split(line))
    else:
        words = len(line.split())
    return words >= _PROSE_WORDS or (words >= _SENTENCE_WORDS and line.endswith((".", "!", "?")))


def _region_candidates(lines: list[str], *, in_header: bool) -> list[Candidate]:
    """Candidates in the header or footer lines; a label may stand alone with the name on the next line."""
    found: list[Candidate] = []
    given_name: str | None = None
    surname: str | None = None
    skip_next = False
    lines = [_without_emoticons(line) for line in lines]
    for position, line in enumerate(lines):
        if skip_next:
            skip_next = False
            continue
        labelled = _LABELLED_LINE.match(line)
        columns = _table_columns(line, lines[position + 1] if position + 1 < len(lines) else "")
        if columns is not None:
            # A row of labels and the row of values under it: each value is read by its column's label.
            skip_next = True
            for label, value in columns:
                if label in _AUTHOR_LABELS:
                    found.extend(_names_in(Signal.HEADER_LABEL, value, need_capitals=False))
            continue
        if not labelled or _EMAIL.fullmatch(line):
            found.extend(_line_candidates(line, in_header=in_header))
            continue
        label = _classify_label(labelled["label"])
        value = _first_field(labelled["value"])
        if not value and position + 1 < len(lines) and not _LABELLED_LINE.match(lines[position + 1]):
            value, skip_next = lines[position + 1], label is not None
        if label in _GIVEN_NAME_LABELS:
            given_name = value
        elif label in _SURNAME_LABELS:
            surname = value
        elif label in _AUTHOR_LABELS:
            plural = label in _PLURAL_AUTHOR_LABELS
            found.extend(_names_in(Signal.HEADER_LABEL, value, need_capitals=False, plural=plural))
    if given_name or surname:
        # 'Förnamn: Anna' and 'Efternamn: Lind' on separate lines are one name.
        found.extend(_names_in(Signal.HEADER_LABEL, f"{given_name or ''} {surname or ''}", need_capitals=False))
    return found


def _table_columns(line: str, next_line: str) -> list[tuple[str | None, str]] | None:
    """('Namn | Klass', 'Anna Lind | 9B') -> [('namn', 'Anna Lind'), ('klass', '9B')]; None if not a table."""
    if "|" not in line and "\t" not in line:
        return None
    labels = [field.strip(" :") for field in _COLUMN_SEPARATOR.split(line)]
    values = [field.strip() for field in _COLUMN_SEPARATOR.split(next_line)]
    if not 2 <= len(labels) <= _MAX_COLUMNS or len(values) != len(labels) or any(len(x) > 30 for x in labels):
        return None
    known: list[str | None] = []
    for label in labels:
        known.append(_classify_label(label) if label else None)
        if known[-1] is None:
            return None
    return list(zip(known, values, strict=True))


def _first_field(value: str) -> str:
    gap = _NEXT_FIELD.search(value)
    return (value[: gap.start()] if gap else value).strip()


def _line_candidates(line: str, *, in_header: bool) -> list[Candidate]:
    """Candidates on one unlabelled header or footer line."""
    if "@" in line:
        return []
    first_word = fold(line.split()[0]).strip(".,:;!")
    if first_word in _OTHER_LABELS or first_word in _HONORIFICS or first_word in _ABOUT_WORDS:
        # 'Lärare Eva Ek', 'Klass 9B': a label written without its colon; 'Ms. Berg' is the teacher.
        return []
    if in_header and first_word in _GREETINGS:
        # 'Hej Ludwig!', 'Dear Anna,': a letter's addressee; its author signs at the end.
        return []
    # A name typed without capitals starts with a lower-case letter ('anna lind 9b').
    lower_case = _without_codes(line) if line[:1].islower() else ""

    signature_kind = Signal.HEADER_LABEL if in_header else Signal.SIGNATURE
    byline = _BYLINE.match(line)
    if byline:
        before = byline["before"].strip(" \t-\u2013\u2014,:")
        if before and fold(before.split()[-1]).startswith(_OTHER_ROLES):
            # 'Rättad av Eva Ek', 'Reviewed by ...': someone else's part in the essay.
            return []
        kind = signature_kind if not before or _mentions_group(before) else Signal.TITLE
        # 'av amina hussein 9b': a short line typed all in lower case is read without capitals.
        typed_lower = line.islower() and len(line.split()) <= _MAX_NAME_WORDS + 1
        return _names_in(kind, byline["value"], need_capitals=not typed_lower)

    if not in_header:
        signed = _SIGN_OFF.match(line)
        if signed:
            names = _names_in(Signal.SIGNATURE, line[signed.end() :], need_capitals=True)
            if names or signed.end() == len(line):
                return names
        if _LOWER_CASE_NAME_LINE.fullmatch(lower_case):
            return [Candidate(signal=Signal.SIGNATURE, span=line, words=tuple(name_words(lower_case)))]
        # References and closing sentences carry years, page numbers or full stops; signatures do not.
        if _YEAR_OR_PAGE.search(line) or "(" in line or _ends_sentence(line):
            return []
        after = max(line.rfind("! "), line.rfind(". "), line.rfind("? "))
        if after > 0 and 0 < len(line[after + 2 :].split()) <= _SIGNATURE_AFTER_SENTENCE_WORDS:
            # 'Vi ses! Kevin', 'Tack för att du läste. /Kevin Ek': a closing sentence, then the name.
            return _line_candidates(line[after + 2 :], in_header=False)
        return _names_in(Signal.SIGNATURE, line, need_capitals=True, whole=True)

    if _LOWER_CASE_NAME_LINE.fullmatch(lower_case):
        # A name typed without capitals ('anna lind', 'anna lind 9b'); the roster decides whether it is one.
        return [Candidate(signal=Signal.FIRST_LINE, span=line, words=tuple(name_words(lower_case)))]
    parts = [p for p in _TITLE_SEPARATOR.split(line) if p and p.strip(" ,.-")]
    kind = Signal.TITLE if len(parts) > 1 else Signal.FIRST_LINE
    found: list[Candidate] = []
    for part in parts:
        found.extend(_names_in(kind, part, need_capitals=True, whole=True))
    return found


def _ends_sentence(line: str) -> bool:
    """A full stop after a word, not after an initial or an abbreviation ('Anna L.', 'E.L.', 'Amina Huss.')."""
    if line.endswith(("!", "?")):
        return True
    if not line.endswith("."):
        return False
    last = line.split()[-1].rstrip(".")
    return len(last.replace(".", "")) > 4


def _without_codes(line: str) -> str:
    """The line without class and course codes ('anna lind, 9b' -> 'anna lind')."""
    words = [w.strip(",;") for w in line.split()]
    return " ".join(w for w in words if w and not (len(w) <= 4 and any(ch.isdigit() for ch in w)))


def _mentions_group(text: str) -> bool:
    return _GROUP_MARKER.search(fold(text)) is not None


def _classify_label(raw_label: str) -> str | None:
    """The known label a written label stands for, tolerating scanning noise; None if unknown."""
    label = " ".join(fold(raw_label).replace("-", " ").replace("'s", "s").split())
    repaired = label.replace("rn", "m").replace("vv", "w").translate(_LABEL_OCR)
    variants = dict.fromkeys((label, repaired, label.translate(_LABEL_OCR)))
    best: tuple[str, float] | None = None
    for variant in variants:
        if variant in _ALL_LABELS:
            return variant
        if len(variant) < 4:
            # Two- and three-letter labels are too short to be recognised through noise.
            continue
        hit = process.extractOne(variant, _ALL_LABELS, scorer=fuzz.ratio, score_cutoff=_LABEL_MIN_SCORE)
        if hit and (best is None or hit[1] > best[1]):
            best = (hit[0], hit[1])
    if best:
        return best[0]
    # Longer labels ('Namn och klass', 'Lärarens namn'): read word by word, other people first.
    words = repaired.split()
    if any(word.startswith(_OTHER_ROLES) for word in words):
        return "teacher"
    for word in words:
        if len(word) >= 4 and process.extractOne(word, _AUTHOR_LABEL_WORDS, scorer=fuzz.ratio, score_cutoff=80):
            return "name"
    return None


_LABEL_OCR = str.maketrans({"0": "o", "1": "l", "5": "s", "3": "e", "|": "l"})


def _names_in(
    kind: Signal, value: str, *, need_capitals: bool, plural: bool = False, whole: bool = False
) -> list[Candidate]:
    """The person names written in a value; several names mark the value as shared authorship."""
    value = _EMAIL.sub(" ", value).replace("<", " ").replace(">", " ").strip(" \t,:;-\u2013\u2014")
    if _ends_sentence(value.rstrip("!?")) or value.startswith("."):
        # A full stop after a word ends a sentence; after an initial or an abbreviation it is part of it.
        value = value.strip(".")
    if not value:
        return []
    people = [p for p in (_people_on_a_line(value) if whole else _NAME_SEPARATOR.split(value)) if p.strip()]
    spans: list[tuple[str, list[str], bool]] = []
    for person in people:
        spans.extend(_comma_separated(person, need_capitals=need_capitals, whole=whole))
    spans = [s for s in spans if s[1]]
    # On a line of its own 'och'/'and' usually joins the words of a title ('TRÄNING OCH HÄLSA',
    # 'Technology and Learning'): only two or more full names there are several people.
    named = sum(len(name) >= 2 for _, name, _ in spans) if whole else len(spans)
    shared = plural or named > 1
    return [
        Candidate(signal=kind, span=span, words=tuple(words), surname_first=surname_first, shared_authorship=shared)
        for span, words, surname_first in spans[:MAX_PEOPLE_PER_SPAN]
    ]


def _people_on_a_line(value: str) -> list[str]:
    """The parts of a line of its own joined by 'och', '&' ...; after 'med'/'with' comes somebody the
    author met or interviewed ('Intervju med Kevin Ek'), not an author."""
    parts: list[str] = []
    start = 0
    for separator in _NAME_SEPARATOR.finditer(value):
        parts.append(value[start : separator.start()])
        if separator.group().strip().casefold() in _COMPANION_SEPARATORS:
            return parts
        start = separator.end()
    parts.append(value[start:])
    return parts


def _comma_separated(text: str, *, need_capitals: bool, whole: bool) -> list[tuple[str, list[str], bool]]:
    """'Svensson, Anna' is one reversed name; 'Anna Lind, Karl Olsson' is two names."""
    pieces = [p.strip() for p in text.split(",") if p.strip()]
    if len(pieces) == 2:
        first_words = _leading_name(pieces[0], need_capitals=need_capitals, whole=whole)
        second_words = _leading_name(pieces[1], need_capitals=need_capitals, whole=whole)
        if len(first_words) == 1 and second_words and not is_initial(first_words[0]):
            return [(text.strip(), first_words + second_words, True)]
    if len(pieces) > 1:
        # A comma after a name usually starts something else ('Anna Lind, SV3'); only whole names count.
        named = [(p, _leading_name(p, need_capitals=need_capitals, whole=whole), False) for p in pieces]
        return [n for n in named if len(n[1]) >= 2] or named[:1]
    return [(text.strip(), _leading_name(text, need_capitals=need_capitals, whole=whole), False)]


def _leading_name(text: str, *, need_capitals: bool, whole: bool = False) -> list[str]:
    """The run of name-like words a span starts with; empty when it starts with something else.

    With `whole`, every word of the span must be part of the name (codes such as 'SV3' aside): a line
    standing on its own is a name line only if nothing else is written on it.
    """
    words: list[str] = []
    for raw in (piece for word in text.split() for piece in _split_glued_word(word).split()):
        if _is_emoticon(raw):
            # A smiley or an emoji after a signature (':)', ':D', '😊'); a dash or a bar separates fields.
            continue
        parsed = name_words(raw)
        if whole and not parsed and any(ch.isdigit() for ch in raw):
            continue
        if len(parsed) > 1 and all(is_initial(w) for w in parsed[:-1]):
            # Initials written without spaces ('E.L.', 'A.Lind').
            words.extend(parsed[:-1])
            parsed = parsed[-1:]
        if len(parsed) != 1:
            if whole:
                return []
            break
        word = parsed[0]
        if need_capitals and word == "I":
            # The English pronoun ('... and I love football'), not an initial.
            break
        if need_capitals and not (word[0].isupper() or (words and word.casefold() in _PARTICLES)):
            if whole:
                return []
            break
        words.append(word)
        if len(words) > _MAX_NAME_WORDS or raw[-1] in ",;:!?" or (raw.endswith(".") and not is_initial(word)):
            break
    if len(words) > _MAX_NAME_WORDS:
        return []
    while words and words[-1].casefold() in _PARTICLES:
        words.pop()
    return words


def _without_emoticons(line: str) -> str:
    """The line without the smileys and emoji at its end ('Anna Lind :D', 'Anna:)', 'Anna 😊 😊')."""
    end = len(line)
    for _ in range(_MAX_TRAILING_EMOTICONS):
        head = line[:end].rstrip()
        start = max(head.rfind(" "), head.rfind("\t")) + 1
        token = head[start:]
        if _is_emoticon(token):
            end = start
            continue
        marks = [i for i in (token.find(":"), token.find(";")) if i > 0]
        if marks and _is_emoticon(token[min(marks) :]):
            end = start + min(marks)
        break
    stripped = line[:end].rstrip()
    return stripped or line


def _is_emoticon(raw: str) -> bool:
    if len(raw) < 2 and not (raw and not raw.isascii()):
        return False
    if not any(ch.isalnum() for ch in raw):
        return not all(ch in _SEPARATOR_MARKS or ch in ":;,." for ch in raw)
    return (len(raw) <= _EMOTICON_LENGTH and raw[0] in ":;=") or raw.casefold() in _LETTER_EMOTICONS


def _split_glued_word(word: str) -> str:
    """A word glued at a change from lower to upper case, split ('NilsTervo' -> 'Nils Tervo')."""
    rest = word[1:]
    if rest.lower() == rest or word.isupper():
        return word
    out: list[str] = []
    previous = ""
    for ch in word:
        if ch.isupper() and previous.islower():
            out.append(" ")
        out.append(ch)
        previous = ch
    return "".join(out)


def _self_introductions(text: str) -> list[Candidate]:
    found: dict[Candidate, None] = {}
    for intro in _SELF_INTRO.finditer(text):
        if len(found) >= MAX_CANDIDATES_PER_PLACE:
            break
        start = intro.start()
        # Reported speech ('"Jag heter Pelle", sa han') introduces a character, not the author.
        if start > 0 and text[start - 1] in "\"'”“«»":
            continue
        plural = intro["phrase"].casefold() in _PLURAL_INTRO
        sentence = _sentence_start(intro["value"])
        if _introduces_a_relative(sentence):
            # 'Jag är Kevins pappa', 'I am Anna's friend': somebody else introduces themselves.
            continue
        names = _names_in(Signal.SELF_INTRO, sentence, need_capitals=True, plural=plural)
        found.update(dict.fromkeys(names))
    return list(found)


def _introduces_a_relative(sentence: str) -> bool:
    """The first word after the name says whose relative or friend is speaking ('Kevins pappa')."""
    words = sentence.split()[: _MAX_NAME_WORDS + 1]
    if not words or not words[0][:1].isupper():
        return False
    after = next((w for w in words if not w[:1].isupper()), "")
    return bool(after) and fold(after).startswith(_RELATIVES)


def _sentence_start(text: str) -> str:
    """The text up to the end of its first sentence, at most a line's length."""
    match = _SENTENCE.match(text, 0, MAX_LINE_CHARACTERS)
    return match.group(0) if match else text[:MAX_LINE_CHARACTERS]


def _emails(lines: list[str]) -> list[Candidate]:
    found: list[Candidate] = []
    addresses: set[str] = set()
    for line in lines:
        if len(addresses) >= MAX_CANDIDATES_PER_PLACE:
            break
        if "@" not in line:
            continue
        labelled = _LABELLED_LINE.match(line)
        if labelled and not _EMAIL.fullmatch(line):
            label = _classify_label(labelled["label"])
            if label is not None and label in _OTHER_LABELS and label not in _EMAIL_LABELS:
                # The teacher's or school's address.
                continue
        for address in _EMAIL.findall(line):
            address = address.strip(".'-")
            if address in addresses:
                continue
            addresses.add(address)
            found.append(Candidate(signal=Signal.EMAIL, span=address, email=address.casefold()))
            local = address.split("@", 1)[0]
            words = [w for w in _ADDRESS_WORD_SEPARATOR.split(local) if len(w) >= 2]
            if words:
                found.append(Candidate(signal=Signal.EMAIL_NAME, span=local, words=tuple(words)))
    return found


_EMAIL_LABELS = frozenset({"e-post", "epost", "email", "e-mail", "mail"})


def _file_name_candidates(file_name: str) -> list[Candidate]:
    stem = PurePath(file_name.replace("\\", "/")).name
    while "." in stem and len(stem.rsplit(".", 1)[1]) <= 5:
        stem = stem.rsplit(".", 1)[0]
    # camelCase file names ('AnnaLind') are split at the case change.
    spaced = _CASE_CHANGE.sub(" ", stem)
    words = [w for w in _FILE_NAME_SEPARATOR.split(spaced) if w and not any(ch.isdigit() for ch in w)]
    if not words:
        return []
    return [Candidate(signal=Signal.FILE_NAME, span=file_name, words=tuple(words))]
