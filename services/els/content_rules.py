"""What an upload must look like: the request's shape, then the essay text rule.

Pure. A malformed request (bad batch id, file name, oversized body) is refused
outright; text that is present but unusable (not UTF-8, too short, too long) is a
validation *failure* that still consumes a slot, so the batch can complete.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass

from essayflow.common.v1 import common_pb2
from essayflow_runtime.errors import FieldErrors
from essayflow_runtime.input_rules import control_character

MIN_CHARACTERS = 50
MAX_CHARACTERS = 50_000
# Checked before decoding so a huge body is never decoded: 4 bytes per character
# at most, with room to spare above MAX_CHARACTERS of typical text.
MAX_CONTENT_BYTES = 200_000
MAX_FILE_NAME_CHARACTERS = 255
TEXT_STORAGE_ID_LENGTH = 64


@dataclass(frozen=True)
class TextCheck:
    """The decoded text, or why it was refused."""

    text: str = ""
    error_code: common_pb2.EssayValidationErrorCode = common_pb2.ESSAY_VALIDATION_ERROR_CODE_UNSPECIFIED
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.error_code == 0


def is_text_storage_id(value: str) -> bool:
    return len(value) == TEXT_STORAGE_ID_LENGTH and all(c in "0123456789abcdef" for c in value)


def text_storage_id(text: str) -> str:
    """Content address of a text: sha256 of its UTF-8 bytes, hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def display_file_name(raw: str) -> str:
    """A file name as ELS keeps and shows it: Unicode NFC, the last path component only
    (an uploader's directories, / or \\, are no one's business), no control characters,
    no surrounding whitespace, at most MAX_FILE_NAME_CHARACTERS. Empty when nothing is left."""
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) != "Cc").strip()
    return "" if name in (".", "..") else name[:MAX_FILE_NAME_CHARACTERS]


def check_upload_request(file_name: str) -> None:
    """Raise INVALID_ARGUMENT when nothing is left of the file name once it is shown as ELS keeps it
    (:func:`display_file_name`). The request's field rules (batch_id a UUID, file_name 1..255
    characters, content at most MAX_CONTENT_BYTES) are in els.proto."""
    errors = FieldErrors()
    errors.check(bool(file_name), "file_name", f"must be 1..{MAX_FILE_NAME_CHARACTERS} characters once shown")
    errors.raise_if_any()


def check_text(content: bytes) -> TextCheck:
    """The essay text rule: valid UTF-8, 50..50,000 characters not counting
    surrounding whitespace (padding must not make a stub look like an essay)."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        return TextCheck(
            error_code=common_pb2.ESSAY_VALIDATION_ERROR_CODE_INVALID_ENCODING,
            message=f"the content is not valid UTF-8 (byte {exc.start})",
        )
    at = control_character(text, multiline=True)
    if at >= 0:
        # NUL and its kin cannot be stored (PostgreSQL text, JSONB) or shown safely.
        return TextCheck(
            error_code=common_pb2.ESSAY_VALIDATION_ERROR_CODE_INVALID_ENCODING,
            message=f"the text contains control character U+{ord(text[at]):04X} (character {at})",
        )
    length = len(text.strip())
    if length == 0:
        return TextCheck(
            error_code=common_pb2.ESSAY_VALIDATION_ERROR_CODE_EMPTY_CONTENT,
            message="the content has no text",
        )
    if length < MIN_CHARACTERS:
        return TextCheck(
            error_code=common_pb2.ESSAY_VALIDATION_ERROR_CODE_CONTENT_TOO_SHORT,
            message=f"the text has {length} characters; at least {MIN_CHARACTERS} are needed",
        )
    if length > MAX_CHARACTERS:
        return TextCheck(
            error_code=common_pb2.ESSAY_VALIDATION_ERROR_CODE_CONTENT_TOO_LONG,
            message=f"the text has {length} characters; at most {MAX_CHARACTERS} are allowed",
        )
    return TextCheck(text=text)
