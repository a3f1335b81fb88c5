"""Essay files into UTF-8 text: the encodings teachers' files have, Word and PDF, and the
files refused before anything is sent."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from essayflow_cli.documents import Unreadable, decode_text, essay_files, read_document
from tests.unit.cli.files import write_docx, write_pdf

TEXT = "Namn: Åsa Öberg\nKlass: 9B\n\nHösten är den vackraste årstiden, tycker jag, för löven får färger. "


@pytest.mark.parametrize(
    ("data", "source"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8 (BOM)"),
        (TEXT.encode("utf-16"), "utf-16"),
        (TEXT.encode("cp1252"), "windows-1252"),
        ("\u201cCitat\u201d \u2013 5 \u20ac är mycket för en höstdag, sa Åsa.\n".encode("cp1252") * 3, "windows-1252"),
    ],
)
def test_text_in_every_encoding_teachers_have_reads_the_same(data: bytes, source: str) -> None:
    text, read_as = decode_text(data)
    assert read_as == source
    assert text == data.decode(
        {"utf-8": "utf-8", "utf-8 (BOM)": "utf-8-sig", "utf-16": "utf-16", "windows-1252": "cp1252"}[source]
    )


def test_word_pdf_and_refusals(tmp_path: Path) -> None:
    word = read_document(write_docx(tmp_path / "a.docx", ["Namn: Åsa Öberg", TEXT]))
    assert word.source == "docx" and "Åsa Öberg" in word.text
    pdf = read_document(write_pdf(tmp_path / "b.pdf", ["Name: Anna Berg", TEXT]))
    assert pdf.source == "pdf" and "Anna Berg" in pdf.text and "Hösten" in pdf.text

    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "short.txt").write_text("Hej.")
    (tmp_path / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "broken.docx").write_bytes(b"not a zip")
    (tmp_path / ".DS_Store").write_bytes(b"\x00")
    refusals = {}
    for name in ("empty.txt", "short.txt", "picture.png", "broken.docx"):
        with pytest.raises(Unreadable) as why:
            read_document(tmp_path / name)
        refusals[name] = str(why.value)
    assert refusals["empty.txt"] == "the file is empty"
    assert "at least 50" in refusals["short.txt"]
    assert ".png is not supported" in refusals["picture.png"]
    assert "Word document" in refusals["broken.docx"]
    assert ".DS_Store" not in [p.name for p in essay_files(tmp_path)]
