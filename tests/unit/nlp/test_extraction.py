"""Where extraction finds author names, and where it must not look."""

from __future__ import annotations

from services.nlp.extraction import Candidate, Signal, extract_candidates
from services.nlp.normalize import compact, fold, name_words

BODY = (
    "Det här är en text om hur skolan kan bli bättre för alla elever i framtiden.\n\n"
    "Många tycker att läxor är onödiga men jag håller inte med om det alls.\n"
)


def names(text: str, file_name: str = "essay.docx", signal: Signal | None = None) -> list[tuple[str, ...]]:
    found = extract_candidates(text, file_name).candidates
    return [c.words for c in found if signal is None or c.signal is signal]


def mentions(text: str, word: str) -> bool:
    return any(word in c.words for c in extract_candidates(text, "essay.docx").candidates)


def only(text: str, signal: Signal, file_name: str = "essay.docx") -> list[Candidate]:
    return [c for c in extract_candidates(text, file_name).candidates if c.signal is signal]


# --- normalisation ---------------------------------------------------------------------------


def test_fold_strips_case_and_diacritics() -> None:
    assert fold("Åke Ångström") == "ake angstrom"
    assert fold("ØSTLUND") == "ostlund"


def test_compact_drops_hyphens_and_repairs_scanned_digits() -> None:
    assert compact("Lindblad-Roos") == "lindbladroos"
    assert name_words("Ti1de Ekdah1") == ["Tilde", "Ekdahl"]
    # Class and course codes are not damaged names.
    assert name_words("Tova Ekdahl SV3 9B") == ["Tova", "Ekdahl"]


# --- labelled header lines -------------------------------------------------------------------


def test_header_labels_in_swedish_and_english() -> None:
    for label in ("Namn", "Name", "Elev", "Författare", "Av", "By", "Written by", "Elevens namn", "Student"):
        text = f"{label}: Tova Ekdahl\n\nSkolan\n\n{BODY}"
        assert names(text, signal=Signal.HEADER_LABEL) == [("Tova", "Ekdahl")], label


def test_header_label_value_in_lower_case_is_still_read() -> None:
    assert names(f"namn: tova ekdahl\n{BODY}", signal=Signal.HEADER_LABEL) == [("tova", "ekdahl")]


def test_scanning_noise_in_label_and_name() -> None:
    for label in ("Narnn", "Narne", "E1ev", "Nman"):
        text = f"{label}: Ti1de Ekdahl\n{BODY}"
        assert names(text, signal=Signal.HEADER_LABEL) == [("Tilde", "Ekdahl")], label


def test_reversed_name_after_label_is_marked_surname_first() -> None:
    (candidate,) = only(f"Namn: Ekdahl, Tova\n{BODY}", Signal.HEADER_LABEL)
    assert candidate.words == ("Ekdahl", "Tova")
    assert candidate.surname_first


def test_second_field_on_the_same_line_is_not_part_of_the_name() -> None:
    assert names(f"Namn: Tova Ekdahl    Klass: 9B\n{BODY}", signal=Signal.HEADER_LABEL) == [("Tova", "Ekdahl")]


def test_label_with_the_name_on_the_next_line() -> None:
    assert names(f"Namn:\nTova Ekdahl\n\nSkolan\n{BODY}", signal=Signal.HEADER_LABEL) == [("Tova", "Ekdahl")]


def test_given_name_and_surname_labels_are_joined() -> None:
    text = f"Förnamn: Tova\nEfternamn: Ekdahl\n{BODY}"
    assert names(text, signal=Signal.HEADER_LABEL) == [("Tova", "Ekdahl")]


def test_longer_label_containing_name() -> None:
    assert names(f"Namn och klass: Tova Ekdahl 9B\n{BODY}", signal=Signal.HEADER_LABEL) == [("Tova", "Ekdahl")]


def test_teacher_label_is_never_a_candidate() -> None:
    text = f"Lärare: Signe Hedberg\nElev: Tova Ekdahl\n\nSkolan\n{BODY}"
    assert names(text, signal=Signal.HEADER_LABEL) == [("Tova", "Ekdahl")]
    assert not mentions(text, "Hedberg")
    for label in ("Teacher", "Handledare", "Lärarens namn", "Teacher's name", "Mentor"):
        assert names(f"{label}: Signe Hedberg\n{BODY}", signal=Signal.HEADER_LABEL) == [], label


def test_teacher_written_without_colon_is_not_a_name_line() -> None:
    assert names(f"Lärare Signe Hedberg\n{BODY}", signal=Signal.FIRST_LINE) == []


def test_reviewer_byline_is_not_the_author() -> None:
    assert not mentions(f"Rättad av Signe Hedberg\n{BODY}", "Hedberg")


# --- name lines at the top -------------------------------------------------------------------


def test_name_on_the_first_line() -> None:
    assert names(f"Tova Ekdahl\n\nSkolan i framtiden\n\n{BODY}", signal=Signal.FIRST_LINE) == [("Tova", "Ekdahl")]


def test_name_after_date_and_course_lines() -> None:
    text = f"2031-02-14\nSV2\nTova Ekdahl\n\nSkolan\n\n{BODY}"
    assert ("Tova", "Ekdahl") in names(text, signal=Signal.FIRST_LINE)


def test_name_and_class_code_on_one_line() -> None:
    assert ("Tova", "Ekdahl") in names(f"Tova Ekdahl, 9B\n{BODY}", signal=Signal.FIRST_LINE)


def test_name_in_capitals() -> None:
    assert names(f"TOVA EKDAHL\n{BODY}", signal=Signal.FIRST_LINE) == [("TOVA", "EKDAHL")]


def test_name_beside_the_title() -> None:
    for line in ("Skolan i framtiden \u2013 Tova Ekdahl", "Tova Ekdahl | Skolan", "Skolan i framtiden (Tova Ekdahl)"):
        assert ("Tova", "Ekdahl") in names(f"{line}\n{BODY}", signal=Signal.TITLE), line


def test_title_with_byline() -> None:
    assert names(f"Krönika av Tova Ekdahl\n{BODY}", signal=Signal.TITLE) == [("Tova", "Ekdahl")]


def test_title_in_sentence_case_is_not_a_name() -> None:
    assert names(f"Skolan i framtiden\n{BODY}", signal=Signal.FIRST_LINE) == []


# --- self-introduction and signature ---------------------------------------------------------


def test_self_introduction() -> None:
    for phrase in ("Jag heter", "Mitt namn är", "My name is", "Hej! Jag heter"):
        text = f"Skolan\n\n{phrase} Tova Ekdahl och jag går i nian.\n{BODY}"
        assert names(text, signal=Signal.SELF_INTRO) == [("Tova", "Ekdahl")], phrase


def test_quoted_introduction_is_a_character_not_the_author() -> None:
    text = f'Skolan\n\n{BODY}Hon sa: "Jag heter Majken Östlund" och gick.\n{BODY}'
    assert names(text, signal=Signal.SELF_INTRO) == []


def test_signatures_at_the_end() -> None:
    closings = ("Skriven av Tova Ekdahl", "/Tova Ekdahl", "\u2013 Tova Ekdahl", "Med vänliga hälsningar,\nTova Ekdahl")
    for closing in closings:
        text = f"Skolan\n\n{BODY}\n{closing}"
        assert ("Tova", "Ekdahl") in names(text, signal=Signal.SIGNATURE), closing


def test_closing_sentence_and_reference_are_not_signatures() -> None:
    text = f"Skolan\n\n{BODY}\nEkdahl, Tova (2019). Skolans historia.\nTack till Majken Östlund för hjälpen."
    assert names(text, signal=Signal.SIGNATURE) == []


# --- e-mail and file name --------------------------------------------------------------------


def test_email_address_and_name_derived_from_it() -> None:
    text = f"tova.ekdahl@skolan.example\n\nSkolan\n{BODY}"
    (email,) = only(text, Signal.EMAIL)
    assert email.email == "tova.ekdahl@skolan.example"
    assert names(text, signal=Signal.EMAIL_NAME) == [("tova", "ekdahl")]


def test_teachers_address_is_skipped() -> None:
    assert only(f"Lärare: signe.hedberg@skolan.example\n{BODY}", Signal.EMAIL) == []


def test_file_name_words() -> None:
    assert names("text", "tova_ekdahl_uppsats_v2.docx", Signal.FILE_NAME) == [("tova", "ekdahl", "uppsats")]
    assert names("text", "TovaEkdahl.pdf", Signal.FILE_NAME) == [("Tova", "Ekdahl")]


# --- other people ----------------------------------------------------------------------------


def test_names_in_the_body_are_not_candidates() -> None:
    text = (
        "Skolan\n\nMin klasskamrat Majken Östlund sa en gång att allt går om man vill.\n\n"
        "Enligt Vilgot Hedlund är läxor bra för alla.\n" + BODY
    )
    assert not mentions(text, "Östlund")
    assert not mentions(text, "Hedlund")


def test_group_work_with_two_authors() -> None:
    for header in (
        "Grupparbete av Tova Ekdahl och Vilgot Hedlund",
        "Namn: Tova Ekdahl & Vilgot Hedlund",
        "Namn: Tova Ekdahl, Vilgot Hedlund",
        "Författare: Tova Ekdahl and Vilgot Hedlund",
    ):
        extraction = extract_candidates(f"{header}\n\nSkolan\n{BODY}", "essay.docx")
        assert extraction.group_work, header
        shared = [c.words for c in extraction.candidates if c.shared_authorship]
        assert shared == [("Tova", "Ekdahl"), ("Vilgot", "Hedlund")], header


def test_group_marker_without_readable_names() -> None:
    assert extract_candidates(f"Grupparbete\nSkolan\n{BODY}", "essay.docx").group_work


def test_plural_self_introduction_is_group_work() -> None:
    assert extract_candidates(f"Skolan\n\nVi heter Tova och Vilgot.\n{BODY}", "essay.docx").group_work


def test_single_author_is_not_group_work() -> None:
    assert not extract_candidates(f"Namn: Tova Ekdahl\n{BODY}", "essay.docx").group_work
