"""The upload request's shape and the essay text rule."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from essayflow.common.v1 import common_pb2
from essayflow.els.v1 import els_pb2
from essayflow_runtime import input_rules
from essayflow_runtime.errors import InvalidArgument
from services.els import content_rules


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"\xc3\x28" + b"a" * 60, common_pb2.ESSAY_VALIDATION_ERROR_CODE_INVALID_ENCODING),
        (b"", common_pb2.ESSAY_VALIDATION_ERROR_CODE_EMPTY_CONTENT),
        (b" \n\t ", common_pb2.ESSAY_VALIDATION_ERROR_CODE_EMPTY_CONTENT),
        (b"a" * 49, common_pb2.ESSAY_VALIDATION_ERROR_CODE_CONTENT_TOO_SHORT),
        (b"a" * 49 + b" " * 100, common_pb2.ESSAY_VALIDATION_ERROR_CODE_CONTENT_TOO_SHORT),
        (b"a" * 50_001, common_pb2.ESSAY_VALIDATION_ERROR_CODE_CONTENT_TOO_LONG),
    ],
)
def test_unusable_text_gets_its_reason_code(content: bytes, code: int) -> None:
    checked = content_rules.check_text(content)
    assert not checked.ok
    assert checked.error_code == code
    assert checked.message


@pytest.mark.parametrize("content", [b"a" * 50, "å".encode() * 50_000, ("ord " * 20).encode()])
def test_text_within_the_rule_is_accepted_as_decoded(content: bytes) -> None:
    checked = content_rules.check_text(content)
    assert checked.ok
    assert checked.text == content.decode()


def test_characters_not_bytes_are_counted() -> None:
    # 50 two-byte characters are 100 bytes but exactly the minimum number of characters.
    assert content_rules.check_text("é".encode() * 50).ok
    assert not content_rules.check_text("é".encode() * 49).ok


def upload(batch_id: str, file_name: str, size: int) -> els_pb2.ProvisionEssayRequest:
    return els_pb2.ProvisionEssayRequest(batch_id=batch_id, file_name=file_name, content=b"x" * size)


def test_a_malformed_request_names_every_bad_field() -> None:
    found = input_rules.request_violations(upload("not-a-uuid", "", content_rules.MAX_CONTENT_BYTES + 1))
    assert [path for path, _ in found] == ["batch_id", "file_name", "content"]
    with pytest.raises(InvalidArgument) as refused:
        content_rules.check_upload_request(content_rules.display_file_name("dir/.."))
    assert [path for path, _ in refused.value.field_violations] == ["file_name"]


def test_a_well_formed_request_passes() -> None:
    assert input_rules.request_violations(upload(str(uuid.uuid4()), "x" * 255, content_rules.MAX_CONTENT_BYTES)) == []
    content_rules.check_upload_request("x" * 255)
    assert input_rules.request_violations(upload(str(uuid.uuid4()), "x" * 256, 10))


def test_the_text_storage_id_is_the_sha256_of_the_utf8_text() -> None:
    assert content_rules.text_storage_id("Åsa") == hashlib.sha256("Åsa".encode()).hexdigest()
    assert content_rules.is_text_storage_id(content_rules.text_storage_id("x"))
    assert not content_rules.is_text_storage_id("A" * 64)
    assert not content_rules.is_text_storage_id("../etc")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("uppsats.txt", "uppsats.txt"),
        ("C:\\Users\\ada\\Documents\\uppsats.txt", "uppsats.txt"),
        ("/home/ada/../../etc/uppsats.txt", "uppsats.txt"),
        ("mapp/under\\mapp/å.txt", "å.txt"),
        ("a\u030a.txt", "\u00e5.txt"),  # decomposed å becomes the one composed character
        ("  rad\x00bryt\x1b\x85.txt  ", "radbryt.txt"),
        ("x" * 300, "x" * 255),
        ("dir/", ""),
        ("..", ""),
        ("\x00", ""),
    ],
)
def test_file_names_are_display_names(raw: str, shown: str) -> None:
    assert content_rules.display_file_name(raw) == shown


@pytest.mark.parametrize("character", ["\x00", "\x01", "\x7f", "\x9b"])
def test_text_with_a_control_character_is_a_validation_failure(character: str) -> None:
    checked = content_rules.check_text(("Det här är en uppsats om hösten. " * 3 + character).encode())
    assert checked.error_code == common_pb2.ESSAY_VALIDATION_ERROR_CODE_INVALID_ENCODING
    assert f"U+{ord(character):04X}" in checked.message


def test_text_keeps_tabs_and_line_breaks() -> None:
    assert content_rules.check_text(("Namn:\tAda\r\n" + "Det här är en uppsats om hösten. " * 3).encode()).ok
