"""Matching rules of the student matcher: who is suggested, and how confidently."""

from __future__ import annotations

import json

import pytest

from essayflow.common.v1 import common_pb2
from services.nlp.matching import RosterIndex, Student, Suggestion, confidence_level, match_essay

BODY = (
    "\n\nSkolan i framtiden\n\n"
    "Det här är en text om hur skolan kan bli bättre för alla elever i framtiden.\n\n"
    "Många tycker att läxor är onödiga men jag håller inte med om det alls.\n"
)

ROSTER = [
    Student("s-tova", "Tova", "Ekdahl", "tova.ekdahl@skolan.example"),
    Student("s-vilgot", "Vilgot", "Hedlund", "vilgot.hedlund@skolan.example"),
    Student("s-ake", "Åke", "Ångström", "ake.angstrom@skolan.example"),
    Student("s-majken", "Majken", "Östlund", "majken.ostlund@skolan.example"),
    Student("s-greta", "Greta", "Lindblad-Roos", "greta.lindblad-roos@skolan.example"),
    Student("s-ture", "Ture", "Wikström", "ture.wikstrom@skolan.example"),
    # Two Signe and two Sundberg: a given name or surname alone cannot tell them apart.
    Student("s-signe-h", "Signe", "Hedberg", "signe.hedberg@skolan.example"),
    Student("s-signe-n", "Signe", "Nordin", "signe.nordin@skolan.example"),
    Student("s-edith", "Edith", "Sundberg", "edith.sundberg@skolan.example"),
    Student("s-melker", "Melker", "Sundberg", "melker.sundberg@skolan.example"),
    Student("s-alva", "Alva Maria", "Ekholm", "alva.ekholm@skolan.example"),
    Student("s-sixten", "Sixten", "Berggren", "sixten.berggren@skolan.example"),
]
INDEX = RosterIndex.build(ROSTER)

HIGH = common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_HIGH
MEDIUM = common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_MEDIUM
LOW = common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_LOW
NO_MATCH = common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_NO_MATCH


def match(text: str, file_name: str = "uppsats_3.docx") -> list[Suggestion]:
    return match_essay(INDEX, text, file_name)


def top(text: str, file_name: str = "uppsats_3.docx") -> tuple[str | None, int]:
    suggestions = match(text, file_name)
    if not suggestions:
        return None, confidence_level(0.0)
    return suggestions[0].student_id, confidence_level(suggestions[0].confidence_score)


# --- confidence levels -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "level"),
    [(0.95, HIGH), (0.9001, HIGH), (0.9, MEDIUM), (0.7, MEDIUM), (0.69, LOW), (0.01, LOW), (0.0, NO_MATCH)],
)
def test_confidence_level_boundaries(score: float, level: int) -> None:
    assert confidence_level(score) == level


# --- exact and fuzzy full names --------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "Namn: Tova Ekdahl",
        "namn: tova ekdahl",
        "NAMN: TOVA EKDAHL",
        "Name: Ekdahl, Tova",
        "Tova Ekdahl",
        "2031-02-14\nSV2\nTova Ekdahl",
        "Skolan i framtiden \u2013 Tova Ekdahl",
    ],
)
def test_exact_name_is_high(header: str) -> None:
    assert top(header + BODY) == ("s-tova", HIGH)


def test_name_typed_without_capitals_on_the_first_line() -> None:
    assert top("tova ekdahl" + BODY) == ("s-tova", HIGH)


def test_english_self_introduction_is_not_group_work() -> None:
    assert top("Skolan\n\nHello! My name is Ture Wikström and I love football." + BODY) == ("s-ture", HIGH)


def test_one_typo_is_still_high() -> None:
    assert top("Namn: Tova Ekdhal" + BODY) == ("s-tova", HIGH)
    assert top("Namn: Vilgott Hedlund" + BODY) == ("s-vilgot", HIGH)


def test_a_typo_in_both_names_is_found_but_not_high() -> None:
    assert top("Namn: Vilgott Hedlnud" + BODY) == ("s-vilgot", MEDIUM)


def test_stripped_diacritics_match() -> None:
    assert top("Namn: Ake Angstrom" + BODY) == ("s-ake", HIGH)
    assert top("Majken Ostlund" + BODY) == ("s-majken", HIGH)


def test_scanned_name_with_digit_for_letter() -> None:
    assert top("Narnn: Ture Wikstr0m" + BODY) == ("s-ture", HIGH)


def test_middle_name_in_text() -> None:
    assert top("Namn: Tova Elisabet Ekdahl" + BODY) == ("s-tova", HIGH)


def test_roster_given_name_with_two_parts() -> None:
    assert top("Namn: Alva Maria Ekholm" + BODY) == ("s-alva", HIGH)
    assert top("Namn: Alva Ekholm" + BODY) == ("s-alva", HIGH)


def test_reversed_order_without_comma() -> None:
    assert top("Ekdahl Tova" + BODY) == ("s-tova", HIGH)


@pytest.mark.parametrize("written", ["Greta Lindblad-Roos", "Greta Lindblad Roos", "Greta Lindbladroos"])
def test_hyphenated_surname_written_in_several_ways(written: str) -> None:
    assert top(f"Namn: {written}" + BODY) == ("s-greta", HIGH)


def test_one_half_of_a_double_surname() -> None:
    student, _ = top("Namn: Greta Lindblad" + BODY)
    assert student == "s-greta"


def test_self_introduction_and_signature() -> None:
    assert top("Skolan\n\nJag heter Sixten Berggren och går i nian." + BODY) == ("s-sixten", HIGH)
    assert top("Skolan" + BODY + "\nSkriven av Sixten Berggren") == ("s-sixten", HIGH)


def test_file_name_alone() -> None:
    assert top("Skolan" + BODY, "sixten_berggren_uppsats.docx") == ("s-sixten", HIGH)


# --- e-mail ----------------------------------------------------------------------------------


def test_roster_email_is_high() -> None:
    assert top("tova.ekdahl@skolan.example" + BODY) == ("s-tova", HIGH)


def test_name_derived_from_another_address_is_medium() -> None:
    assert top("tova.ekdahl@privat.example" + BODY) == ("s-tova", MEDIUM)


def test_alias_address_matches_nobody() -> None:
    assert top("toek77@privat.example" + BODY)[1] in (LOW, NO_MATCH)


# --- partial names ---------------------------------------------------------------------------


def test_unique_first_name_alone_is_medium() -> None:
    assert top("Av: Vilgot" + BODY) == ("s-vilgot", MEDIUM)


def test_shared_first_name_alone_is_not_a_match() -> None:
    suggestions = match("Av: Signe" + BODY)
    assert {s.student_id for s in suggestions} >= {"s-signe-h", "s-signe-n"}
    assert all(confidence_level(s.confidence_score) == LOW for s in suggestions)


def test_unique_surname_alone_is_medium() -> None:
    assert top("Namn: Wikström" + BODY) == ("s-ture", MEDIUM)


def test_shared_surname_alone_is_not_a_match() -> None:
    assert top("Namn: Sundberg" + BODY)[1] == LOW


def test_initial_resolves_a_shared_surname() -> None:
    assert top("Namn: M. Sundberg" + BODY) == ("s-melker", MEDIUM)
    assert top("Namn: Signe N." + BODY) == ("s-signe-n", MEDIUM)


def test_single_word_line_at_the_top_is_only_a_hint() -> None:
    # It may just as well be a title.
    assert top("Vilgot" + BODY) == ("s-vilgot", LOW)


def test_honorific_line_is_the_teacher() -> None:
    assert top("Tova Ekdahl\nMs. Hedlund\nEngelska 6" + BODY) == ("s-tova", HIGH)
    assert match("Ms. Hedlund\nEngelska 6" + BODY) == []


def test_surname_with_a_nickname_is_only_a_hint() -> None:
    student, level = top("Namn: Vigge Hedlund" + BODY)
    assert (student, level) == ("s-vilgot", LOW)


# --- negatives -------------------------------------------------------------------------------


def test_no_name_means_no_suggestion() -> None:
    assert match("Skolan" + BODY) == []


def test_name_not_in_roster_is_not_matched() -> None:
    assert top("Namn: Elvira Holmgren" + BODY) == (None, NO_MATCH)


def test_outsider_sharing_one_name_with_a_student_is_at_most_low() -> None:
    assert top("Namn: Tova Holmgren" + BODY)[1] in (LOW, NO_MATCH)
    assert top("Namn: Elvira Ekdahl" + BODY)[1] in (LOW, NO_MATCH)


def test_distractor_names_in_body_do_not_compete() -> None:
    text = "Namn: Tova Ekdahl" + BODY + "Min klasskamrat Vilgot Hedlund sa att allt går om man vill.\n" + BODY
    suggestions = match(text)
    assert [s.student_id for s in suggestions] == ["s-tova"]
    assert confidence_level(suggestions[0].confidence_score) == HIGH


def test_classmate_alone_in_the_body_is_no_match() -> None:
    assert match("Skolan" + BODY + "Min kompis Vilgot Hedlund tycker annorlunda.\n" + BODY) == []


def test_teacher_label_is_ignored() -> None:
    assert top("Lärare: Signe Hedberg\nElev: Tova Ekdahl" + BODY) == ("s-tova", HIGH)
    assert match("Lärare: Signe Hedberg" + BODY) == []


@pytest.mark.parametrize(
    "header",
    [
        "Grupparbete av Tova Ekdahl och Vilgot Hedlund",
        "Namn: Tova Ekdahl, Vilgot Hedlund",
        "Namn: Tova Ekdahl & Elvira Holmgren",
    ],
)
def test_group_work_is_never_high_or_medium(header: str) -> None:
    suggestions = match(header + BODY)
    assert suggestions
    assert all(confidence_level(s.confidence_score) == LOW for s in suggestions)
    assert any(r["signal"] == "group_work" for r in suggestions[0].match_reasons)


def test_conflicting_places_lower_confidence() -> None:
    # The header names one student, the file name another: neither is HIGH.
    student, level = top("Namn: Tova Ekdahl" + BODY, "vilgot_hedlund_uppsats.docx")
    assert student == "s-tova"
    assert level != HIGH


def test_two_equally_close_students_are_ambiguous() -> None:
    roster = RosterIndex.build([Student("a", "Tilde", "Berg"), Student("b", "Tilda", "Berg")])
    suggestions = match_essay(roster, "Namn: Tildi Berg" + BODY, "x.docx")
    assert {s.student_id for s in suggestions} == {"a", "b"}
    assert all(confidence_level(s.confidence_score) == LOW for s in suggestions)
    assert any(r["signal"] == "ambiguity" for r in suggestions[0].match_reasons)


def test_exact_name_beats_a_near_namesake() -> None:
    roster = RosterIndex.build([Student("a", "Tilde", "Berg"), Student("b", "Tilda", "Berg")])
    assert match_essay(roster, "Namn: Tilde Berg" + BODY, "x.docx")[0].student_id == "a"


# --- shape of the result ---------------------------------------------------------------------


def test_suggestions_are_ranked_scored_and_explained() -> None:
    suggestions = match("Namn: Tova Ekdahl" + BODY, "tova_ekdahl.docx")
    scores = [s.confidence_score for s in suggestions]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    reasons = suggestions[0].match_reasons
    assert {(r["signal"], r["matched"]) for r in reasons} >= {("header_label", "full_name"), ("file_name", "full_name")}
    json.dumps([s.match_reasons for s in suggestions])


def test_roster_without_emails() -> None:
    roster = RosterIndex.build([Student("a", "Tova", "Ekdahl", None)])
    assert match_essay(roster, "tova.ekdahl@skolan.example" + BODY, "x.docx")[0].student_id == "a"
