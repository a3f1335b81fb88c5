"""The one rule between proto enum values and database strings."""

from __future__ import annotations

import pytest

from essayflow.common.v1 import common_pb2
from essayflow_runtime import enums

ALL_ENUMS = [
    common_pb2.BatchStatus,
    common_pb2.EssayStatus,
    common_pb2.StudentAssociationStatus,
    common_pb2.AssociationValidationMethod,
    common_pb2.AssociationConfidenceLevel,
    common_pb2.BatchType,
    common_pb2.CourseCode,
]


def test_the_documented_example() -> None:
    value = common_pb2.BATCH_STATUS_STUDENT_VALIDATION_COMPLETED
    assert enums.to_db(common_pb2.BatchStatus, value) == "student_validation_completed"
    assert enums.from_db(common_pb2.BatchStatus, "student_validation_completed") == value


@pytest.mark.parametrize("enum", ALL_ENUMS, ids=lambda e: e.DESCRIPTOR.name)
def test_every_value_round_trips_and_unspecified_has_no_stored_form(enum) -> None:
    for value in enum.DESCRIPTOR.values:
        if value.number == 0:
            with pytest.raises(ValueError):
                enums.to_db(enum, 0)
            continue
        text = enums.to_db(enum, value.number)
        assert text == text.lower() and text.strip("_") == text
        assert enums.from_db(enum, text) == value.number
    assert len(enums.db_values(enum)) == len(enum.DESCRIPTOR.values) - 1


def test_unknown_strings_are_refused() -> None:
    with pytest.raises(ValueError):
        enums.from_db(common_pb2.BatchStatus, "ready")
    with pytest.raises(ValueError):
        enums.from_db(common_pb2.BatchStatus, "unspecified")


def test_check_constraint_lists_exactly_the_proto_values() -> None:
    sql = enums.check_constraint_sql("status", common_pb2.StudentAssociationStatus)
    assert sql == ("status IN ('pending_validation', 'confirmed', 'rejected', 'timeout_confirmed', 'no_match')")


def test_course_codes_carry_their_language() -> None:
    from essayflow.common.v1 import options_pb2

    sv1 = common_pb2.CourseCode.DESCRIPTOR.values_by_name["COURSE_CODE_SV1"].GetOptions()
    assert sv1.Extensions[options_pb2.course_language] == options_pb2.LANGUAGE_SV
    assert sv1.Extensions[options_pb2.course_name] == "Svenska 1"
