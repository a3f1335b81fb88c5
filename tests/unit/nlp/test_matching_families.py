"""The hand-ins real classrooms produce (issue 16): each family, and how evidence is combined."""

from __future__ import annotations

import pytest

from essayflow.common.v1 import common_pb2
from services.nlp.matching import RosterIndex, Student, Suggestion, confidence_level, match_essay

HIGH = common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_HIGH
MEDIUM = common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_MEDIUM
LOW = common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_LOW
NO_MATCH = common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_NO_MATCH

BODY = (
    "\n\nDet här är en text om skolan och om hur eleverna har det i dag och i morgon.\n\n"
    "Många tycker att läxor är onödiga men jag håller inte med om det alls.\n"
)

ROSTER = [
    Student("s-amina", "Amina", "Hussein", "amina.hussein@elev.example"),
    Student("s-mo", "Mohammed", "Al-Rashid", "mohammed.al-rashid@elev.example"),
    Student("s-ebba", "Ebba", "Lindqvist-Berg", "ebba.lindqvist-berg@elev.example"),
    Student("s-ludwig", "Ludwig", "Sandberg", "ludwig.sandberg@elev.example"),
    Student("s-kevin", "Kevin", "Ek", "kevin.ek@elev.example"),
    Student("s-ester", "Ester", "Persson", "ester.persson@elev.example"),
    Student("s-nils", "Nils", "Tervo", "nils.tervo@elev.example"),
    Student("s-sean", "Seán", "O'Brien", "sean.obrien@elev.example"),
    Student("s-karl", "Karl", "Lundin", "karl.lundin@elev.example"),
    Student("s-axel-o", "Axel", "Jonsson", "axel.jonsson@elev.example"),
    Student("s-axel-oe", "Axel", "Jönsson", "axel.jonsson2@elev.example"),
    Student("s-elisabeth", "Elisabeth", "Holm", "elisabeth.holm@elev.example"),
    Student("s-elisabeth-nora", "Elisabeth Nora", "Strand", "elisabeth.strand@elev.example"),
    Student("s-amin", "Amin", "Yousef", "amin.yousef@elev.example"),
    Student("s-saga", "Saga", "Wallin", "saga.wallin@elev.example"),
    Student("s-erik", "Erik", "Lundgren", "erik.lundgren@elev.example"),
    Student("s-emil", "Emil", "Lund", "emil.lund@elev.example"),
    Student("s-fredrik", "Fredrik", "Johansson", "fredrik.johansson@elev.example"),
    Student("s-astrid", "Astrid", "Johansson", "astrid.johansson@elev.example"),
    Student("s-yara", "Yara", "Öztürk", "yara.ozturk@elev.example"),
]
INDEX = RosterIndex.build(ROSTER)


def match(text: str, file_name: str = "uppsats.docx") -> list[Suggestion]:
    return match_essay(INDEX, text, file_name)


def top(text: str, file_name: str = "uppsats.docx") -> tuple[str | None, int]:
    suggestions = match(text, file_name)
    if not suggestions:
        return None, confidence_level(0.0)
    return suggestions[0].student_id, confidence_level(suggestions[0].confidence_score)


def signals(suggestion: Suggestion) -> list[str]:
    return [str(r["signal"]) for r in suggestion.match_reasons]


# --- titles read as co-authors ---------------------------------------------------------------


@pytest.mark.parametrize("title", ["TRÄNING OCH HÄLSA", "Technology and Learning", "Natur & miljö"])
def test_a_title_with_och_or_and_is_not_two_authors(title: str) -> None:
    assert top(f"{title}\nNamn: Amina Hussein{BODY}") == ("s-amina", HIGH)
    assert top(f"{title}{BODY}\n/Mohammed Al-Rashid") == ("s-mo", HIGH)
    assert "group_work" not in signals(match(f"{title}\nNamn: Amina Hussein{BODY}")[0])


def test_two_full_names_on_a_line_of_their_own_are_still_group_work() -> None:
    suggestions = match(f"Amina Hussein och Ebba Lindqvist-Berg{BODY}")
    assert suggestions
    assert confidence_level(suggestions[0].confidence_score) == LOW
    assert "group_work" in signals(suggestions[0])


# --- the author line below other header lines ------------------------------------------------


@pytest.mark.parametrize(
    "above",
    [
        "Kommentar från Ludwig: Bra inledning, men du kan utveckla argumenten i andra stycket mer!",
        "Feedback from Ludwig Sandberg: good structure, but the ending needs an example.",
        "Till läraren: Ebba har varit sjuk i två veckor och därför blev texten lite kortare.",
        "Hej! Ebba har varit sjuk i två veckor och därför blev texten lite kortare. Hälsningar mamma",
    ],
)
def test_a_comment_or_a_note_above_does_not_hide_the_author_line(above: str) -> None:
    assert top(f"{above}\nEbba Lindqvist-Berg\n9B{BODY}") == ("s-ebba", HIGH)
    assert top(f"{above}\n\nNamn: Ebba Lindqvist-Berg{BODY}") == ("s-ebba", HIGH)


@pytest.mark.parametrize(
    "block",
    [
        "Namn | Klass | Kurs | Datum\nAmina Hussein | 9B | Svenska 2 | 2025-03-04",
        "Name\tClass\tDate\nAmina Hussein\t9B\t2025-03-04",
        "Amina Hussein | 9B | English 6 | 12 March 2025",
        "Name: Amina Hussein | Class: 9B | Course: English 6 | Date: 12 March 2025",
    ],
)
def test_a_name_class_course_date_block(block: str) -> None:
    assert top(f"{block}\n\nA day I remember{BODY}") == ("s-amina", HIGH)


# --- letters ---------------------------------------------------------------------------------


@pytest.mark.parametrize("greeting", ["Hej Ludwig!", "Hej Ludwig Sandberg!", "Dear Ludwig,", "Hejsan Ludwig"])
@pytest.mark.parametrize(
    ("sign_off", "level"),
    [
        ("Kramar från Kevin", MEDIUM),
        ("Kram,\nKevin", MEDIUM),
        ("/Kevin", MEDIUM),
        ("Mvh Kevin Ek", HIGH),
        ("Puss och kram från Kevin Ek", HIGH),
        ("Best wishes,\nKevin Ek", HIGH),
    ],
)
def test_in_a_letter_the_greeting_is_the_addressee_and_the_sign_off_the_author(
    greeting: str, sign_off: str, level: int
) -> None:
    suggestions = match(f"{greeting}{BODY}\n{sign_off}")
    assert (suggestions[0].student_id, confidence_level(suggestions[0].confidence_score)) == ("s-kevin", level)
    assert all(s.student_id != "s-ludwig" for s in suggestions)


def test_a_letter_without_a_signature_names_nobody() -> None:
    assert top(f"Hej Ludwig Sandberg!{BODY}\nMånga kramar") == (None, NO_MATCH)


# --- e-mail after Från:/From: ----------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "Från: kevin.ek@elev.example\nTill: larare@elev.example\nÄmne: Inlämning",
        "From: Kevin Ek <kevin.ek@elev.example>\nTo: teacher@elev.example",
        "From: kevin.ek@elev.example",
    ],
)
def test_the_senders_own_address_names_the_author(header: str) -> None:
    assert top(f"{header}{BODY}") == ("s-kevin", HIGH)


def test_the_recipients_address_does_not() -> None:
    assert top(f"Till: kevin.ek@elev.example{BODY}") == (None, NO_MATCH)


# --- signature forms -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Min dag{BODY}\nKevin Ek :)", ("s-kevin", HIGH)),
        (f"Min dag{BODY}\nKevin Ek 😊", ("s-kevin", HIGH)),
        (f"Min dag{BODY}\nKevin :)", ("s-kevin", MEDIUM)),
        (f"Min dag{BODY}\nester persson 8b", ("s-ester", HIGH)),
        (f"ester persson, 8b\nMin dag{BODY}", ("s-ester", HIGH)),
        (f"Name:NilsTervo{BODY}", ("s-nils", HIGH)),
        (f"Namn: Seán O\u00b4Brien{BODY}", ("s-sean", HIGH)),
        (f"Min dag{BODY}\nSeán O\u2019Brien", ("s-sean", HIGH)),
        (f"Min dag{BODY}\nSean O`Brien", ("s-sean", HIGH)),
        (f"Min dag{BODY}\nsean o'brien, 9a", ("s-sean", HIGH)),
    ],
)
def test_signature_forms(text: str, expected: tuple[str, int]) -> None:
    assert top(text) == expected


# --- short forms -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "student", "levels"),
    [
        (f"Min dag{BODY}\n/Kalle", "s-karl", {LOW}),
        (f"Min dag{BODY}\nMo", "s-mo", {LOW}),
        (f"Namn: Kalle Lundin{BODY}", "s-karl", {MEDIUM}),
        (f"Min dag{BODY}\nY.Ö.", "s-yara", {LOW}),
        (f"Namn: Erik Lun.{BODY}", "s-erik", {MEDIUM}),
        (f"Namn: Amina Huss.{BODY}", "s-amina", {MEDIUM}),
        (f"E-post: sagawallin@privat.example{BODY}", "s-saga", {MEDIUM}),
        (f"{BODY}\nsagawallin07@privat.example", "s-saga", {MEDIUM}),
    ],
)
def test_a_short_form_is_evidence_for_the_one_student_it_fits(text: str, student: str, levels: set[int]) -> None:
    found, level = top(text)
    assert found == student
    assert level in levels


@pytest.mark.parametrize(
    "text",
    [
        f"Min dag{BODY}\nE.L.",  # Ebba Lindqvist-Berg and Emil Lund
        f"Namn: Lisa Berg{BODY}",  # Elisabeth Holm, or Elisabeth Nora Strand, with nobody's surname
        f"Namn: Fredde Johansson{BODY}",  # two Johanssons: the short form alone has to tell them apart
        f"Namn: Elisabeth{BODY}",  # Elisabeth Holm, or Elisabeth Nora Strand
    ],
)
def test_a_short_form_that_fits_several_students_is_no_guess(text: str) -> None:
    suggestions = match(text)
    assert not suggestions or confidence_level(suggestions[0].confidence_score) == LOW


# --- evidence adds up, ties stay ties ----------------------------------------------------------


@pytest.mark.parametrize(("address", "student"), [("axel.jonsson2", "s-axel-oe"), ("axel.jonsson", "s-axel-o")])
def test_a_twin_with_their_own_address_is_found(address: str, student: str) -> None:
    suggestions = match(f"Namn: Axel Jönsson\n{address}@elev.example{BODY}")
    assert (suggestions[0].student_id, confidence_level(suggestions[0].confidence_score)) == (student, HIGH)
    agreement = next(r for r in suggestions[0].match_reasons if r["signal"] == "agreement")
    assert set(agreement["value"]) == {"email", "header_label"}


@pytest.mark.parametrize("written", ["Axel Jonsson", "Axel Jönsson"])
def test_twins_by_name_alone_are_a_tie(written: str) -> None:
    suggestions = match(f"Namn: {written}{BODY}")
    assert {s.student_id for s in suggestions[:2]} == {"s-axel-o", "s-axel-oe"}
    assert suggestions[0].confidence_score == suggestions[1].confidence_score
    assert confidence_level(suggestions[0].confidence_score) == LOW
    assert "ambiguity" in signals(suggestions[0])


def test_a_given_name_shared_with_a_longer_roster_entry_is_ambiguous() -> None:
    suggestions = match(f"Namn: Elisabeth{BODY}")
    assert {s.student_id for s in suggestions[:2]} == {"s-elisabeth", "s-elisabeth-nora"}
    assert suggestions[0].confidence_score == suggestions[1].confidence_score
    assert top(f"Namn: Elisabeth Nora{BODY}") == ("s-elisabeth-nora", MEDIUM)
    assert top(f"Namn: Elisabeth Holm{BODY}") == ("s-elisabeth", HIGH)


@pytest.mark.parametrize("title", ["MIN FRAMTID", "MITT LIV OCH MIN FRAMTID"])
def test_a_title_in_capitals_is_not_a_name_it_resembles(title: str) -> None:
    assert top(f"{title}{BODY}") == (None, NO_MATCH)
    assert top(f"AMIN YOUSEF{BODY}") == ("s-amin", HIGH)


def test_file_name_and_text_naming_two_students_is_a_conflict() -> None:
    suggestions = match(f"Namn: Amina Hussein{BODY}", "saga_wallin_uppsats.docx")
    assert suggestions[0].student_id == "s-amina"
    assert confidence_level(suggestions[0].confidence_score) == LOW
    conflict = next(r for r in suggestions[0].match_reasons if r["signal"] == "conflict")
    assert conflict["matched"] == "file_name"
    assert conflict["value"] == ["s-saga"]


def test_file_name_and_text_that_agree_say_so() -> None:
    suggestions = match(f"Namn: Amina Hussein{BODY}", "AminaHussein.docx")
    assert confidence_level(suggestions[0].confidence_score) == HIGH
    assert "agreement" in signals(suggestions[0])
    assert "conflict" not in signals(suggestions[0])


# --- longer notes, closing sentences, first names in file names --------------------------------


def test_a_comment_with_its_label_alone_above_the_author_line() -> None:
    comment = "Bra text! Men du borde utveckla slutsatsen lite mer och kolla stavningen."
    text = f"Kommentar från Ali:\n{comment}\nNamn: Kevin Ek{BODY}"
    assert top(text) == ("s-kevin", HIGH)


def test_a_labelled_author_line_under_a_note_of_several_lines() -> None:
    note = (
        "Hej! Jag är Amins pappa och vill bara säga att han har varit sjuk i två veckor nu.\n"
        "Därför blev texten kortare än vad uppgiften sa, vi har pratat med mentorn om det.\n"
        "Hoppas att det går bra ändå och tack för att ni har haft tålamod med oss!\n"
    )
    suggestions = match(f"{note}Namn: Kevin Ek{BODY}")
    assert (suggestions[0].student_id, confidence_level(suggestions[0].confidence_score)) == ("s-kevin", HIGH)
    assert "self_intro" not in signals(suggestions[0])  # 'Jag är Amins pappa' is not Amin


@pytest.mark.parametrize("closing", ["Vi ses snart!", "Hej då!", "Tack för att du läste.", "Ha det så bra!"])
def test_a_name_after_a_closing_sentence_is_a_signature(closing: str) -> None:
    assert top(f"Hallå Ludwig!{BODY}\n{closing} Kevin Ek") == ("s-kevin", HIGH)


def test_a_smiley_with_a_nose() -> None:
    assert top(f"Min dag{BODY}\nKevin Ek :-)") == ("s-kevin", HIGH)


def test_a_file_name_with_another_students_given_name_is_a_conflict() -> None:
    assert top(f"Namn: Amina Hussein{BODY}", "kevin.docx") == ("s-amina", LOW)
    assert top(f"Namn: Amina Hussein{BODY}", "svenska_uppsats_final.docx") == ("s-amina", HIGH)


@pytest.mark.parametrize("smiley", [":D", ";P", "xD", "<3", ":-)", "🙂🙂"])
def test_smileys_after_a_name(smiley: str) -> None:
    assert top(f"Min dag{BODY}\nKevin Ek {smiley}") == ("s-kevin", HIGH)
    assert top(f"Namn: Kevin Ek {smiley}{BODY}") == ("s-kevin", HIGH)


@pytest.mark.parametrize("title", ["Intervju med Kevin Ek", "An interview with Kevin Ek", "Om Kevin Ek"])
def test_a_title_about_a_classmate_does_not_name_the_author(title: str) -> None:
    assert top(f"{title}{BODY}") == (None, NO_MATCH)
    assert top(f"{title}\nNamn: Amina Hussein{BODY}") == ("s-amina", HIGH)


def test_a_private_address_that_is_both_twins_name_does_not_decide() -> None:
    suggestions = match(f"Namn: Axel Jonsson\naxel.jonsson@privat.example{BODY}")
    assert confidence_level(suggestions[0].confidence_score) == LOW
    assert top(f"Namn: Kevin Ek\nkevin.ek@privat.example{BODY}") == ("s-kevin", HIGH)


@pytest.mark.parametrize(
    ("intro", "expected"),
    [
        ("Jag är Kevins pappa och skriver för att han har varit sjuk.", (None, NO_MATCH)),
        ("I am Kevin's friend and I am writing this for him.", (None, NO_MATCH)),
        ("Jag heter Kevin Ek och min pappa är lärare.", ("s-kevin", HIGH)),
    ],
)
def test_a_relative_introducing_themselves_is_not_the_author(intro: str, expected: tuple[str | None, int]) -> None:
    assert top(f"{intro}{BODY}") == expected


def test_in_a_short_essay_the_name_after_the_prose_is_a_signature() -> None:
    assert top(f"{BODY}\n//Kevin") == ("s-kevin", MEDIUM)


def test_a_byline_typed_in_lower_case() -> None:
    assert top(f"av kevin ek 9b{BODY}") == ("s-kevin", HIGH)
