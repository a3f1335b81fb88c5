"""Labelled essays for the student matcher, one family of hand-in at a time.

    python -m bench.matching_families [--out PATH] [--seed N]

Writes `bench/data/matching_families.jsonl` (the committed file; `make bench` reads it), one batch per
line in the format of the matcher's labelled data: a roster and essays, each essay with
`expected_student_id` (null when the text and file name cannot honestly name one roster student),
`family` (the kind of hand-in, reported per family) and `pattern` (the variant inside it). The
matcher never reads either tag.

The names come from Faker in several locales plus names common in Swedish classrooms that Faker has
no locale for; the essay bodies, titles, notes and letters are written here. Nothing in this file
knows how the matcher works: the families describe how students write, not what the matcher reads.
The output depends only on the seed and the pinned Faker version.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data" / "matching_families.jsonl"
SEED = 16
BATCHES = 12

# (locale, share of a roster). Faker's locales for the names of the families in Swedish schools.
_LOCALES = (
    ("sv_SE", 0.40),
    ("fi_FI", 0.07),
    ("no_NO", 0.05),
    ("da_DK", 0.05),
    ("de_DE", 0.06),
    ("nl_NL", 0.05),
    ("en_GB", 0.06),
    ("pl_PL", 0.05),
    ("tr_TR", 0.04),
    ("es_ES", 0.04),
)
# Names Faker has no locale for (Arabic, Somali, Persian, Kurdish, as Swedish schools spell them).
_OWN_GIVEN = (
    "Hodan", "Yusuf", "Abdirahman", "Fadumo", "Samira", "Omar", "Zeynab", "Hamza", "Ayaan", "Bilal",
    "Nour", "Rania", "Karim", "Leyla", "Dara", "Soran", "Hiba", "Idris", "Maryam", "Tariq", "Amin",
    "Mina", "Ilham", "Jamal",
)  # fmt: skip
_OWN_SURNAMES = (
    "Hassan", "Warsame", "Abdullahi", "Al-Hakim", "Al-Khatib", "Karimi", "Rahimi", "Mohammadi",
    "Osman", "Farah", "Ahmadi", "Abdi", "El-Sayed", "Barzani", "Haddad", "Nasser", "Yilmaz",
)  # fmt: skip
_APOSTROPHE_SURNAMES = ("O'Connor", "O'Neill", "O'Brien", "D'Angelo", "N'Diaye", "O'Sullivan")
_SWEDISH_SURNAMES = ("Lindqvist", "Berg", "Sjöberg", "Holm", "Wallin", "Ek", "Nyström", "Åberg", "Lund", "Strand")
# Surnames that differ only in a diacritic: twins on a roster.
_TWIN_SURNAMES = (("Jonsson", "Jönsson"), ("Ostlund", "Östlund"), ("Soderberg", "Söderberg"), ("Akesson", "Åkesson"))
# What classmates call each other (written here from Swedish and English usage).
_NICKNAMES = (
    ("Karl", "Kalle"), ("Lars", "Lasse"), ("Nils", "Nisse"), ("Per", "Pelle"), ("Hans", "Hasse"),
    ("Elisabeth", "Lisa"), ("Mohammed", "Mo"), ("Kristina", "Stina"), ("Margareta", "Maggan"),
    ("Alexander", "Alex"), ("Jonathan", "Jonte"), ("Gustav", "Gurra"), ("Robert", "Robban"),
    ("Thomas", "Tom"), ("Katarina", "Kattis"), ("Benjamin", "Ben"),
)  # fmt: skip
_CAPS_TITLES = (("MIN FRAMTID", "Amin"), ("MIN FRAMTID", "Mina"), ("IDAG ÄR EN BRA DAG", "Ida"), ("MITT LIV", "Liv"))

_TITLES_AND = (
    "TRÄNING OCH HÄLSA", "Technology and Learning", "Skolan och framtiden", "SPORT AND SOCIETY",
    "Natur och miljö", "Friends and Family", "Musik och minnen", "Sleep and School",
)  # fmt: skip
_TITLES = (
    "Sociala medier", "Min sommar", "Klimatet", "A day I remember", "Om läxor", "Why we read",
    "Framtidens skola", "Staden jag bor i",
)  # fmt: skip

# Essay bodies: Swedish and English paragraphs, written for this file.
_PARAGRAPHS_SV = (
    "Många unga tränar mer än någonsin, men samtidigt sitter vi stilla fler timmar om dagen. "
    "Jag tror att skolan kan göra mer för att vi ska röra på oss. En promenad på lunchen gör stor skillnad.",
    "När jag var liten bodde vi nära en skog. Varje höst plockade vi svamp och lärde oss vilka som var giftiga. "
    "Det är minnen som jag fortfarande tänker på när jag går förbi en gran.",
    "Sociala medier har både fördelar och nackdelar. Man kan hålla kontakten med vänner som bor långt bort, "
    "men man jämför sig också hela tiden med andra. Det kan göra att man mår sämre.",
    "I framtiden vill jag arbeta med något där jag får hjälpa människor. Kanske blir jag sjuksköterska "
    "eller lärare. Det viktigaste är att jobbet känns meningsfullt.",
    "Klimatförändringarna märks redan i Sverige. Vintrarna har blivit kortare och det regnar mer. "
    "Vi måste alla ändra våra vanor, men politikerna har det största ansvaret.",
    "Läxor är ett ämne som alltid skapar diskussion. Vissa menar att de behövs för att man ska lära sig, "
    "andra att de bara skapar stress. Jag tycker att mängden borde minska.",
    "Musik betyder mycket för mig. När jag lyssnar på en låt från förra sommaren kommer allt tillbaka: "
    "dofterna, vännerna och känslan av att ha hela livet framför sig.",
    "Staden där jag bor är inte så stor, men den har en fin hamn. På sommaren kommer det många turister "
    "och då blir det liv i gamla stan igen.",
)
_PARAGRAPHS_EN = (
    "Technology has changed the way we learn. We can find answers in seconds, but it is harder "
    "to concentrate on one thing for a long time. Teachers have to find new ways to keep us focused.",
    "Sleep is important for teenagers, but many of us go to bed far too late. Phones keep us awake, "
    "and the next morning it is hard to listen in the first lesson.",
    "My family moved three times before I turned ten. Every new school felt strange at first, "
    "but I learned how to make friends quickly and that has helped me a lot.",
    "Sport is more than winning. When I play football with my team I learn to cooperate and to "
    "handle losing, which is something school rarely teaches.",
    "Reading a book is different from watching a film. You have to imagine the people and places "
    "yourself, and I think that makes the story stay with you longer.",
    "The city I live in is building a new railway. Some people are angry about the noise, "
    "but I think it will make it easier for young people to get to work and school.",
)


@dataclass(frozen=True)
class Person:
    student_id: str
    first_name: str
    last_name: str
    email: str

    @property
    def full(self) -> str:
        return f"{self.first_name} {self.last_name}"


def ascii_fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("ø", "o").replace("æ", "ae"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch) and ch.isascii())


def _mailbox(given: str, surname: str) -> str:
    def part(name: str) -> str:
        return "".join(ch if ch.isalnum() or ch == "-" else "" for ch in ascii_fold(name.replace(" ", "-")))

    return f"{part(given.split()[0])}.{part(surname)}"


def _folded_words(person: Person) -> set[str]:
    return {ascii_fold(w) for w in f"{person.first_name} {person.last_name}".replace("-", " ").split()}


class _Batch:
    """One class: a roster built name by name, and essays whose expected author is known."""

    def __init__(self, index: int, rng: random.Random, fakers: dict[str, Any]) -> None:
        self.index = index
        self.rng = rng
        self.fakers = fakers
        self.school = rng.choice(("elev.skola.se", "student.gymnasiet.se", "elev.kommun.se"))
        self.roster: list[Person] = []
        self.essays: list[dict[str, Any]] = []
        # The students planted for the families that need them.
        self.twin_ids: list[str] = []
        self.prefix_ids: list[str] = []
        self.caps_title = ("", "")

    # Roster --------------------------------------------------------------------------------------

    def add(self, given: str, surname: str) -> Person:
        number = len(self.roster) + 1
        mailbox = _mailbox(given, surname)
        taken = {p.email.split("@")[0] for p in self.roster}
        suffix = 2
        base = mailbox
        while mailbox in taken:
            mailbox, suffix = f"{base}{suffix}", suffix + 1
        person = Person(f"f{self.index:02d}-s{number:02d}", given, surname, f"{mailbox}@{self.school}")
        self.roster.append(person)
        return person

    def random_name(self) -> tuple[str, str]:
        roll = self.rng.random()
        if roll < 0.2:
            given, surname = self.rng.choice(_OWN_GIVEN), self.rng.choice(_OWN_SURNAMES)
        else:
            locales = [loc for loc, _ in _LOCALES]
            weights = [w for _, w in _LOCALES]
            faker = self.fakers[self.rng.choices(locales, weights)[0]]
            given, surname = faker.first_name(), faker.last_name()
        extra = self.rng.random()
        if extra < 0.12:
            given = f"{given} {self.fakers['sv_SE'].first_name()}"
        elif extra < 0.2:
            surname = f"{surname}-{self.rng.choice(_SWEDISH_SURNAMES)}"
        return given, surname

    def fill(self, size: int) -> None:
        while len(self.roster) < size:
            given, surname = self.random_name()
            if any(ascii_fold(p.full) == ascii_fold(f"{given} {surname}") for p in self.roster):
                continue
            self.add(given, surname)

    def by_id(self, student_id: str) -> Person:
        return next(p for p in self.roster if p.student_id == student_id)

    def unique_given(self, person: Person) -> bool:
        """Nobody else in the class has this given name, or a given name starting with it."""
        mine = ascii_fold(person.first_name.split()[0])
        for other in self.roster:
            if other is person:
                continue
            names = [ascii_fold(w) for w in other.first_name.replace("-", " ").split()]
            if mine in names or any(n.startswith(mine) or mine.startswith(n) for n in names):
                return False
        return True

    def pick(self, condition: Callable[[Person], bool] = lambda p: True, avoid: tuple[Person, ...] = ()) -> Person:
        choices = [p for p in self.roster if condition(p) and p not in avoid]
        return self.rng.choice(choices)

    def plain(self, avoid: tuple[Person, ...] = ()) -> Person:
        """A student with a single ordinary given name nobody else in the class shares."""
        return self.pick(
            lambda p: " " not in p.first_name and "'" not in p.last_name and self.unique_given(p), avoid=avoid
        )

    # Essays --------------------------------------------------------------------------------------

    def body(self, english: bool = False, paragraphs: int = 2) -> str:
        pool = _PARAGRAPHS_EN if english else _PARAGRAPHS_SV
        return "\n\n".join(self.rng.sample(pool, paragraphs))

    def essay(
        self, family: str, pattern: str, text: str, expected: Person | None, file_name: str | None = None
    ) -> None:
        number = len(self.essays) + 1
        self.essays.append(
            {
                "essay_id": f"f{self.index:02d}-e{number:03d}",
                "file_name": file_name or self.rng.choice(("uppsats.docx", "essay.txt", f"text{number}.docx", "")),
                "text": text,
                "expected_student_id": expected.student_id if expected else None,
                "family": family,
                "pattern": pattern,
            }
        )

    def record(self) -> dict[str, Any]:
        return {
            "batch_id": f"families-{self.index:02d}",
            "class_id": f"class-{self.index:02d}",
            "roster": [
                {"student_id": p.student_id, "first_name": p.first_name, "last_name": p.last_name, "email": p.email}
                for p in self.roster
            ],
            "essays": self.essays,
        }


def _class_code(rng: random.Random) -> str:
    return f"{rng.choice('789')}{rng.choice('ABC')}"


def title_read_as_authors(b: _Batch) -> None:
    family = "title_and"
    author = b.plain()
    title = b.rng.choice(_TITLES_AND)
    english = title.split()[1].casefold() == "and"
    b.essay(family, "title_then_label", f"{title}\n\nNamn: {author.full}\n\n{b.body(english)}", author)
    author = b.plain()
    b.essay(family, "title_then_name_line", f"{b.rng.choice(_TITLES_AND)}\n{author.full}\n\n{b.body()}", author)
    author = b.plain()
    b.essay(family, "title_then_signature", f"{b.rng.choice(_TITLES_AND)}\n\n{b.body()}\n\n/{author.full}", author)
    one, two = b.plain(), b.plain()
    if one is not two:
        b.essay(family, "real_group_work", f"{title}\n\nNamn: {one.full} och {two.full}\n\n{b.body()}", None)


def author_below_other_lines(b: _Batch) -> None:
    family = "header_below"
    author, peer = b.plain(), b.plain()
    comment = b.rng.choice(
        (
            "Bra inledning, men du kan utveckla argumenten i andra stycket mer.",
            "Jättebra text! Tänk på styckeindelningen och kolla stavningen en gång till.",
        )
    )
    if peer is not author:
        b.essay(
            family,
            "peer_comment_on_top",
            f"Kommentar från {peer.first_name}: {comment}\n\n"
            f"Namn: {author.full}\n{b.rng.choice(_TITLES)}\n\n{b.body()}",
            author,
        )
    author = b.plain()
    note = (
        f"Till läraren: {author.first_name} har varit sjuk i två veckor och därför blev texten lite kortare "
        "än vad uppgiften sa. Hälsningar, förälder"
    )
    b.essay(family, "parent_note_on_top", f"{note}\n\n{author.full}\n{_class_code(b.rng)}\n\n{b.body()}", author)
    author = b.plain()
    date = f"2025-03-0{b.rng.randint(1, 9)}"
    table = f"Namn | Klass | Kurs | Datum\n{author.full} | {_class_code(b.rng)} | Svenska 2 | {date}"
    b.essay(family, "table_block", f"{table}\n\n{b.rng.choice(_TITLES)}\n\n{b.body()}", author)
    author = b.plain()
    line = f"{author.full} | {_class_code(b.rng)} | English 6 | 1{b.rng.randint(0, 9)} March 2025"
    b.essay(family, "name_class_course_date_line", f"{line}\n\nA day I remember\n\n{b.body(True)}", author)
    author, peer = b.plain(), b.plain()
    if peer is not author:
        text = (
            f"Feedback from {peer.full}: Good structure, but the ending is too short and needs an example.\n"
            f"Name: {author.full}\n\n{b.body(True)}"
        )
        b.essay(family, "peer_feedback_full_name", text, author)
    author, peer = b.plain(), b.plain()
    if peer is not author:
        text = (
            f"Kamratrespons ({peer.first_name}):\nDu skriver tydligt och har bra exempel, men slutsatsen "
            f"kommer för snabbt.\nNamn: {author.full}\n\n{b.body()}"
        )
        b.essay(family, "peer_comment_label_alone", text, author)
    author = b.plain()
    note = (
        f"Hej! Jag är {author.first_name}s mamma och vill bara säga att hen har varit sjuk länge.\n"
        "Därför blev texten kortare än uppgiften sa, vi har pratat med mentorn om det.\n"
        "Hoppas att det går bra ändå och tack för att ni har haft tålamod med oss!\n"
    )
    b.essay(family, "long_parent_note", f"{note}Namn: {author.full}\n\n{b.body()}", author)


def letters(b: _Batch) -> None:
    family = "letter"
    author = b.plain()
    friend = b.pick(avoid=(author,))
    text = f"Hej {friend.first_name.split()[0]}!\n\n{b.body()}\n\nKramar från {author.first_name}"
    b.essay(family, "greeting_and_kramar", text, author)
    author = b.plain()
    friend = b.pick(avoid=(author,))
    text = f"Dear {friend.first_name.split()[0]},\n\n{b.body(True)}\n\nBest wishes,\n{author.full}"
    b.essay(family, "dear_and_best_wishes", text, author)
    author = b.plain()
    friend = b.pick(avoid=(author,))
    text = f"Hej {friend.full}!\n\n{b.body()}\n\n/{author.first_name}"
    b.essay(family, "greeting_and_slash", text, author)
    author = b.plain()
    friend = b.pick(avoid=(author,))
    text = f"Hej {friend.first_name.split()[0]}!\n\n{b.body()}\n\nMvh {author.full}"
    b.essay(family, "greeting_and_mvh", text, author)
    author = b.plain()
    friend = b.pick(avoid=(author,))
    closing = b.rng.choice(("Vi ses snart!", "Ha det så bra!", "Hej då!", "Tack för att du läste."))
    text = f"Hallå {friend.first_name.split()[0]}!\n\n{b.body()}\n\n{closing} {author.full}"
    b.essay(family, "closing_sentence_and_name", text, author)
    friend = b.pick()
    text = f"Hej {friend.full}!\n\n{b.body()}\n\nMånga kramar"
    b.essay(family, "greeting_only", text, None)


def email_from(b: _Batch) -> None:
    family = "email_from"
    author = b.pick()
    text = f"Från: {author.email}\nTill: larare@{b.school}\nÄmne: Inlämning\n\n{b.body()}"
    b.essay(family, "fran_address", text, author)
    author = b.pick()
    text = f"From: {author.full} <{author.email}>\nTo: teacher@{b.school}\n\n{b.body(True)}"
    b.essay(family, "from_name_and_address", text, author)
    author = b.pick()
    text = f"Från: {author.email}\n\n{b.body()}\n\nHälsningar"
    b.essay(family, "fran_address_no_name", text, author)
    text = f"Från: expedition@{b.school}\nTill: elever@{b.school}\n\n{b.body()}"
    b.essay(family, "fran_school_address", text, None)


def signature_forms(b: _Batch) -> None:
    family = "signature_forms"
    author = b.plain()
    smiley = b.rng.choice((" :)", " :-)", " 😊", "😀", " ❤️", " ;)"))
    b.essay(family, "full_name_smiley", f"{b.rng.choice(_TITLES)}\n\n{b.body()}\n\n{author.full}{smiley}", author)
    author = b.plain()
    b.essay(family, "given_name_smiley", f"{b.rng.choice(_TITLES)}\n\n{b.body()}\n\n{author.first_name} :)", author)
    author = b.plain()
    lower = f"{author.full.casefold()} {_class_code(b.rng).casefold()}"
    b.essay(family, "lower_case_with_class_footer", f"{b.rng.choice(_TITLES)}\n\n{b.body()}\n\n{lower}", author)
    author = b.plain()
    lower = f"{author.full.casefold()} {_class_code(b.rng).casefold()}"
    b.essay(family, "lower_case_with_class_header", f"{lower}\n{b.rng.choice(_TITLES)}\n\n{b.body()}", author)
    author = b.plain()
    glued = author.first_name + author.last_name.replace(" ", "")
    label = b.rng.choice(("Name:", "Namn:"))
    b.essay(family, "glued_label_and_name", f"{label}{glued}\n\n{b.rng.choice(_TITLES)}\n\n{b.body()}", author)
    author = b.pick(lambda p: "'" in p.last_name)
    mark = b.rng.choice(("\u00b4", "\u2019", "`"))
    written = author.full.replace("'", mark)
    b.essay(family, "typographic_apostrophe", f"Namn: {written}\n\n{b.body()}", author)
    b.essay(family, "typographic_apostrophe_signature", f"{b.rng.choice(_TITLES)}\n\n{b.body()}\n\n{written}", author)


def short_forms(b: _Batch) -> None:
    family = "short_forms"
    nicknamed = [p for p in b.roster if p.first_name in dict(_NICKNAMES) and b.unique_given(p)]
    for person in nicknamed[:2]:
        nick = dict(_NICKNAMES)[person.first_name]
        b.essay(family, "nickname_alone", f"{b.rng.choice(_TITLES)}\n\n{b.body()}\n\n/{nick}", person)
        b.essay(family, "nickname_and_surname", f"Namn: {nick} {person.last_name}\n\n{b.body()}", person)

    def initials(p: Person) -> str:
        return f"{ascii_fold(p.first_name)[0].upper()}.{ascii_fold(p.last_name.split()[-1])[0].upper()}."

    counts: dict[str, int] = {}
    for person in b.roster:
        counts[initials(person)] = counts.get(initials(person), 0) + 1
    unique = [p for p in b.roster if counts[initials(p)] == 1 and " " not in p.last_name]
    shared = [p for p in b.roster if counts[initials(p)] > 1]
    if unique:
        person = b.rng.choice(unique)
        b.essay(family, "initials_unique", f"{b.rng.choice(_TITLES)}\n\n{b.body()}\n\n{initials(person)}", person)
    if shared:
        person = b.rng.choice(shared)
        b.essay(family, "initials_shared", f"{b.rng.choice(_TITLES)}\n\n{b.body()}\n\n{initials(person)}", None)

    author = b.pick(lambda p: len(p.last_name) >= 6 and " " not in p.last_name and b.unique_given(p))
    short = author.last_name[: b.rng.choice((3, 4))] + "."
    b.essay(family, "abbreviated_surname", f"Namn: {author.first_name} {short}\n\n{b.body()}", author)
    author = b.pick(lambda p: " " not in p.first_name and " " not in p.last_name and "'" not in p.last_name)
    glued = ascii_fold(author.first_name + author.last_name).replace("-", "")
    private = b.rng.choice(("gmail.com", "hotmail.se", "outlook.com"))
    b.essay(family, "glued_private_address", f"E-post: {glued}@{private}\n\n{b.body()}", author)


def twins(b: _Batch) -> None:
    family = "twins_email"
    plain_twin, accented_twin = (b.by_id(i) for i in b.twin_ids)
    for twin in (plain_twin, accented_twin):
        text = f"Namn: {twin.full}\n{twin.email}\n\n{b.body()}"
        b.essay(family, "name_and_own_address", text, twin)
    twin = b.rng.choice((plain_twin, accented_twin))
    b.essay(family, "own_address_only", f"{b.body()}\n\n{twin.email}", twin)
    b.essay(family, "name_only", f"{b.rng.choice(_TITLES)}\n\n{b.body()}\n\n{twin.full}", None)


def given_name_prefix(b: _Batch) -> None:
    family = "given_name_prefix"
    short, long = (b.by_id(i) for i in b.prefix_ids)
    b.essay(family, "shared_first_given_name", f"Namn: {short.first_name}\n\n{b.body()}", None)
    b.essay(family, "both_given_names", f"Namn: {long.first_name}\n\n{b.body()}", long)
    b.essay(family, "full_name_short_entry", f"Namn: {short.full}\n\n{b.body()}", short)
    b.essay(family, "full_name_long_entry", f"Namn: {long.full}\n\n{b.body()}", long)


def capitalized_titles(b: _Batch) -> None:
    family = "caps_title"
    title, _ = b.caps_title
    b.essay(family, "caps_title_no_author", f"{title}\n\n{b.body()}", None)
    author = b.plain()
    b.essay(family, "caps_title_and_label", f"{title}\n\nNamn: {author.full}\n\n{b.body()}", author)
    author = b.plain()
    b.essay(family, "caps_title_and_signature", f"{title}\n\n{b.body()}\n\n/{author.first_name}", author)


def file_name_conflicts(b: _Batch) -> None:
    family = "file_text_conflict"
    author, other = b.plain(), b.plain()
    if author is not other:
        file_name = f"{ascii_fold(other.first_name)}_{ascii_fold(other.last_name)}_uppsats.docx"
        b.essay(family, "file_names_another", f"Namn: {author.full}\n\n{b.body()}", None, file_name)
    author, other = b.plain(), b.plain()
    if author is not other:
        file_name = f"{ascii_fold(other.first_name)}.docx"
        b.essay(family, "file_names_another_given_name", f"Namn: {author.full}\n\n{b.body()}", None, file_name)
    author = b.plain()
    file_name = f"{author.first_name}{author.last_name.replace(' ', '')}.docx"
    b.essay(family, "file_and_text_agree", f"Namn: {author.full}\n\n{b.body()}", author, file_name)
    author = b.plain()
    file_name = f"{ascii_fold(author.first_name)}_{ascii_fold(author.last_name)}.txt"
    b.essay(family, "file_name_only", f"{b.rng.choice(_TITLES)}\n\n{b.body()}", author, file_name)


def unattributable(b: _Batch) -> None:
    family = "unattributable"
    b.essay(family, "no_name", f"{b.rng.choice(_TITLES)}\n\n{b.body(paragraphs=3)}", None)
    outsider = b.fakers["en_GB"].first_name() + " " + b.fakers["en_GB"].last_name()
    while any(ascii_fold(p.full) == ascii_fold(outsider) for p in b.roster):
        outsider = b.fakers["en_GB"].first_name() + " " + b.fakers["en_GB"].last_name()
    b.essay(family, "name_not_in_roster", f"Namn: {outsider}\n\n{b.body()}", None)


FAMILIES = (
    title_read_as_authors,
    author_below_other_lines,
    letters,
    email_from,
    signature_forms,
    short_forms,
    twins,
    given_name_prefix,
    capitalized_titles,
    file_name_conflicts,
    unattributable,
)


def _batch(index: int, rng: random.Random, fakers: dict[str, Any]) -> dict[str, Any]:
    b = _Batch(index, rng, fakers)
    # The students each family needs, then ordinary classmates.
    given = rng.choice(("Axel", "Ella", "Oscar", "Maja", "Hugo", "Wilma"))
    plain_surname, accented_surname = rng.choice(_TWIN_SURNAMES)
    twin_ids = [b.add(given, plain_surname).student_id, b.add(given, accented_surname).student_id]
    prefix_given = rng.choice(("Elisabeth", "Johanna", "Maria", "Sofia", "Anna"))
    second_given = rng.choice(("Nora", "Linnea", "Ingrid", "Viola", "Astrid"))
    prefix_ids = [
        b.add(prefix_given, rng.choice(_SWEDISH_SURNAMES)).student_id,
        b.add(f"{prefix_given} {second_given}", rng.choice(_OWN_SURNAMES)).student_id,
    ]
    title, lookalike = rng.choice(_CAPS_TITLES)
    b.add(lookalike, fakers["sv_SE"].last_name())
    b.add(rng.choice(_OWN_GIVEN[:12]), rng.choice(_APOSTROPHE_SURNAMES))
    for formal, _ in rng.sample(_NICKNAMES, 2):
        b.add(formal, fakers["sv_SE"].last_name())
    b.fill(rng.randint(24, 30))
    rng.shuffle(b.roster)
    b.twin_ids = twin_ids
    b.prefix_ids = prefix_ids
    b.caps_title = (title, lookalike)
    for family in FAMILIES:
        family(b)
    return b.record()


def generate(seed: int = SEED, batches: int = BATCHES) -> list[dict[str, Any]]:
    from faker import Faker  # only the generator needs it

    rng = random.Random(seed)
    fakers: dict[str, Any] = {}
    for offset, (locale, _) in enumerate(_LOCALES):
        faker = Faker(locale)
        faker.seed_instance(seed * 100 + offset)
        fakers[locale] = faker
    return [_batch(index, rng, fakers) for index in range(batches)]


def dumps(batches: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(batch, ensure_ascii=False) + "\n" for batch in batches)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DATA)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    batches = generate(args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dumps(batches), encoding="utf-8")
    essays = sum(len(b["essays"]) for b in batches)
    print(f"{len(batches)} batches, {essays} essays -> {args.out.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
