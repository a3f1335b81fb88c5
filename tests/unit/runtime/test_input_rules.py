"""The field rules read from proto: every string, bytes and repeated field checked by descriptor."""

from __future__ import annotations

import pytest
from google.protobuf.message import DecodeError

from essayflow.bos.v1 import bos_pb2
from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import common_pb2
from essayflow.els.v1 import els_pb2
from essayflow.events.v1 import els_events_pb2, nlp_events_pb2
from essayflow.nlp.v1 import nlp_pb2
from essayflow_runtime import contracts, input_rules
from essayflow_runtime.errors import InvalidArgument


def paths(found: list[tuple[str, str]]) -> list[str]:
    return [path for path, _ in found]


def test_a_clean_request_has_no_violations() -> None:
    request = bos_pb2.RegisterBatchRequest(
        expected_essay_count=3, course_code=common_pb2.COURSE_CODE_SV1, title="Höst — 9B", idempotency_key="k-1"
    )
    assert input_rules.violations(request) == []


@pytest.mark.parametrize("character", ["\x00", "\x01", "\x1b", "\x7f", "\x85", "\x9f", "\t", "\n", "\r"])
def test_a_single_line_field_refuses_every_control_character(character: str) -> None:
    found = input_rules.violations(bos_pb2.RegisterBatchRequest(title=f"T{character}x"))
    assert paths(found) == ["title"]
    assert f"U+{ord(character):04X}" in found[0][1]


def test_free_text_keeps_tab_newline_and_carriage_return_but_not_nul() -> None:
    text = nlp_pb2.EssayText(essay_id="e", file_name="a.txt", text="Namn:\tAda\r\nText\n")
    assert input_rules.violations(nlp_pb2.MatchAuthorsRequest(essays=[text])) == []
    text.text += "\x00"
    assert paths(input_rules.violations(nlp_pb2.MatchAuthorsRequest(essays=[text]))) == ["essays[0].text"]


def test_nested_and_repeated_paths_name_the_element() -> None:
    request = cms_pb2.AddStudentsRequest(
        class_id="c",
        students=[
            cms_pb2.NewStudent(first_name="Ada", last_name="L", email="a@x"),
            cms_pb2.NewStudent(first_name="Bo\x00", last_name="L", email="b@x"),
        ],
    )
    assert paths(input_rules.violations(request)) == ["students[1].first_name"]
    decisions = cms_pb2.ValidateAssociationsRequest(
        decisions=[cms_pb2.AssociationDecision(essay_id="e", override=cms_pb2.OverrideDecision(student_id="s\x00"))]
    )
    assert paths(input_rules.violations(decisions)) == ["decisions[0].override.student_id"]


def test_lengths_and_item_counts_come_from_the_field_options() -> None:
    assert paths(input_rules.violations(bos_pb2.RegisterBatchRequest(title="x" * 200))) == []
    assert paths(input_rules.violations(bos_pb2.RegisterBatchRequest(title="x" * 201))) == ["title"]
    many = bos_pb2.RequestPipelineRequest(pipelines=["spellcheck"] * 20_000)
    found = input_rules.violations(many)
    assert found == [("pipelines", "must have at most 16 items (has 20000)")]
    long_name = bos_pb2.RequestPipelineRequest(pipelines=["x" * 65])
    assert paths(input_rules.violations(long_name)) == ["pipelines[0]"]
    upload = els_pb2.ProvisionEssayRequest(file_upload_id="u" * 400_000, content=b"x" * 200_001)
    assert sorted(paths(input_rules.violations(upload))) == ["content", "file_upload_id"]


def test_undefined_enum_numbers_are_refused_in_requests_only() -> None:
    request = bos_pb2.RegisterBatchRequest(course_code=99)  # type: ignore[arg-type]
    assert paths(input_rules.violations(request)) == ["course_code"]
    assert input_rules.violations(request, check_enums=False) == []


def test_a_lone_surrogate_cannot_reach_the_rules() -> None:
    """Why the rules need no surrogate check: protobuf refuses them on both sides."""
    with pytest.raises(UnicodeEncodeError):
        bos_pb2.RegisterBatchRequest(title="a\ud800")
    wire = bos_pb2.RegisterBatchRequest(title="ab").SerializeToString().replace(b"ab", b"\xed\xa0")
    with pytest.raises(DecodeError):
        bos_pb2.RegisterBatchRequest.FromString(wire)


def test_the_report_is_bounded() -> None:
    request = cms_pb2.AddStudentsRequest(students=[cms_pb2.NewStudent(first_name="\x00")] * 1000)
    assert len(input_rules.violations(request)) == input_rules.MAX_REPORTED


def test_check_request_raises_invalid_argument_naming_every_field() -> None:
    with pytest.raises(InvalidArgument) as raised:
        input_rules.check_request(
            bos_pb2.RegisterBatchRequest(
                expected_essay_count=1, course_code=1, title="T\x00", idempotency_key="k\x00"  # type: ignore[arg-type]
            )
        )
    assert sorted(p for p, _ in raised.value.field_violations) == ["idempotency_key", "title"]


def test_event_violations_cover_the_envelope_and_the_payload() -> None:
    payload = els_events_pb2.EssaySlotAssigned(batch_id="b", file_name="a\x00.txt")
    envelope = contracts.wrap(payload, source="els", correlation_id="c\x00")
    assert sorted(paths(input_rules.event_violations(envelope, payload))) == [
        "correlation_id",
        "payload.file_name",
    ]


def test_conform_makes_derived_output_fit() -> None:
    reason = common_pb2.MatchReason(signal="header_label", matched="full_name", value="Ada\x00" + "x" * 2000)
    result = common_pb2.EssayMatchResult(
        essay_id="e",
        suggestions=[common_pb2.AuthorSuggestion(match_reasons=[reason] * 40)],
        detail="boom\x07",
    )
    event = nlp_events_pb2.BatchAuthorMatchesSuggested(batch_id="b", results=[result])
    assert input_rules.violations(event)
    input_rules.conform(event)
    assert input_rules.violations(event) == []
    assert event.results[0].suggestions[0].match_reasons[0].value.startswith("Ada ")
    assert event.results[0].detail == "boom "
