"""Reading the files teachers have into UTF-8 text, before anything is sent.

``.txt`` in UTF-8 (with or without a byte-order mark), UTF-16 (with a mark, or one
charset-normalizer recognises) and Windows-1252 (the Swedish and English Windows
default; Latin-1 files read the same); ``.docx`` with python-docx; ``.pdf`` with
pypdf. Anything else, and a file with no text, is refused here and never uploaded.
Pure apart from reading the file."""

from __future__ import annotations

import codecs
import io
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

SUPPORTED = (".txt", ".docx", ".pdf")
# ELS's rule for an essay (EssayValidationErrorCode): checked here too so a file that
# would fail there is refused before it takes a slot.
MIN_CHARS = 50
MAX_CHARS = 50_000
MAX_BYTES = 200_000

# Single-byte Latin-script encodings a detector may name for a Windows-1252 file: the bytes
# of å ä ö é mean the same in most of them, and Windows-1252 is what such files really are.
_LATIN = frozenset(
    {
        "ascii",
        "cp1252",
        "windows_1252",
        "latin_1",
        "cp1250",
        "cp1254",
        "cp1257",
        "mac_roman",
        "mac_latin2",
        "cp437",
        "cp850",
        "cp858",
        *(f"iso8859_{n}" for n in (1, 2, 3, 4, 9, 10, 13, 14, 15, 16)),
    }
)


class Unreadable(Exception):
    """Why a file is not uploaded (said to the teacher as is)."""


@dataclass(frozen=True)
class Document:
    path: Path
    text: str
    # How it was read: "utf-8", "utf-8 (BOM)", "utf-16", "windows-1252", "docx", "pdf".
    source: str

    @property
    def content(self) -> bytes:
        return self.text.encode("utf-8")


def decode_text(data: bytes) -> tuple[str, str]:
    """The text of a plain-text file and the encoding it was in."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="strict"), "utf-8 (BOM)"
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return data.decode("utf-32"), "utf-32"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8", errors="strict"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.encoding is None:
        raise Unreadable("its encoding cannot be told (save it as UTF-8)")
    encoding = best.encoding.lower().replace("-", "_")
    if encoding in _LATIN:
        try:
            return data.decode("cp1252", errors="strict"), "windows-1252"
        except UnicodeDecodeError:
            return data.decode("latin_1"), "latin-1"
    return str(best), encoding.replace("_", "-")


def _docx_text(data: bytes) -> str:
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as error:
        raise Unreadable(f"it is not a Word document python-docx can read ({type(error).__name__})") from None
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append("\t".join(cell.text for cell in row.cells))
    return "\n".join(lines)


def _pdf_text(data: bytes) -> str:
    import pypdf
    from pypdf.errors import PdfReadError

    # pypdf reports what it repairs through logging; a teacher needs only the outcome.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise Unreadable("it is an encrypted PDF (save it without a password)")
        return "\n".join(page.extract_text() or "" for page in reader.pages)
    except PdfReadError as error:
        raise Unreadable(f"it is not a PDF pypdf can read ({error})") from None


def read_document(path: Path) -> Document:
    """The UTF-8 text of one essay file, or :class:`Unreadable` saying why not."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise Unreadable(f"{suffix or 'a file without an extension'} is not supported (use .txt, .docx or .pdf)")
    data = path.read_bytes()
    if not data:
        raise Unreadable("the file is empty")
    if suffix == ".docx":
        text, source = _docx_text(data), "docx"
    elif suffix == ".pdf":
        text, source = _pdf_text(data), "pdf"
    else:
        try:
            text, source = decode_text(data)
        except UnicodeDecodeError:
            raise Unreadable("it is not valid text in its encoding (save it as UTF-8)") from None
    # Page and section breaks (PDF, Word) are line breaks; NUL cannot be stored.
    text = text.replace("\r\n", "\n").replace("\x0c", "\n").replace("\x0b", "\n").replace("\x00", "")
    stripped = text.strip()
    if not stripped:
        raise Unreadable("it has no text" + (" (a scanned PDF has only images)" if suffix == ".pdf" else ""))
    if len(stripped) < MIN_CHARS:
        raise Unreadable(f"it has {len(stripped)} characters of text; an essay needs at least {MIN_CHARS}")
    if len(text) > MAX_CHARS or len(text.encode()) > MAX_BYTES:
        raise Unreadable(f"it has {len(text):,} characters; an essay may have at most {MAX_CHARS:,}")
    return Document(path, text, source)


def essay_files(folder: Path) -> list[Path]:
    """Every file of a folder an upload considers (hidden files such as .DS_Store are not)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith((".", "~$")))
