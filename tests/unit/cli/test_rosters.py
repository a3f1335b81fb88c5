"""Rosters as teachers have them: Excel's CSV (BOM, ';' or tab), Swedish headers, .xlsx;
every problem reported with its line, duplicates included."""

from __future__ import annotations

import codecs
from pathlib import Path

from essayflow_cli.rosters import read_csv, read_roster
from tests.unit.cli.files import write_xlsx


def test_excel_csv_dialects_and_swedish_headers() -> None:
    english = codecs.BOM_UTF8 + b"first_name,last_name,email\r\nAnna,Berg,Anna.Berg@School.se\r\n"
    swedish = "Förnamn;Efternamn;E-post\nÅsa;Öberg;asa@skola.se\n\n".encode("cp1252")
    tabbed = "Efternamn\tFörnamn\tMejl\nLind\tBo\tbo@skola.se\n".encode()
    full_name = b'Namn,E-postadress\n"Ek, Cia",cia@skola.se\n'
    read = [read_csv(data) for data in (english, swedish, tabbed, full_name)]
    assert [r.problems for r in read] == [[], [], [], []]
    assert [(r.rows[0].first_name, r.rows[0].last_name, r.rows[0].email) for r in read] == [
        ("Anna", "Berg", "anna.berg@school.se"),
        ("Åsa", "Öberg", "asa@skola.se"),
        ("Bo", "Lind", "bo@skola.se"),
        ("Cia", "Ek", "cia@skola.se"),
    ]
    assert read[1].read_as == "csv ';' windows-1252"
    assert read[2].read_as.startswith("csv '\\t'")


def test_problems_carry_line_numbers_and_duplicates_are_reported() -> None:
    data = (
        "förnamn;efternamn;e-post\n"
        "Anna;Berg;anna@skola.se\n"
        "Bo;;bo@skola.se\n"
        "Cia;Ek;not-an-address\n"
        "Anna;Lind;ANNA@skola.se\n"
        "Anna;Berg;anna@skola.se\n"
    ).encode()
    roster = read_csv(data)
    assert roster.problems == [
        "line 3: the last name is missing",
        "line 4: 'not-an-address' is not an e-mail address",
        "line 5: Anna Lind has the e-mail anna@skola.se of Anna Berg on line 2",
        "line 6: Anna Berg <anna@skola.se> again (first on line 2)",
    ]
    assert read_csv(b"name;city\nAnna;Lund\n").problems[0].startswith("line 1: the header names no e-mail column")


def test_xlsx(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "klass.xlsx",
        [["Förnamn", "Efternamn", "E-post"], ["Åsa", "Öberg", "asa@skola.se"], ["", "", ""], ["Bo", "Lind", "x"]],
    )
    roster = read_roster(path)
    assert [r.email for r in roster.rows] == ["asa@skola.se"]
    assert roster.problems == ["line 4: 'x' is not an e-mail address"]
    assert roster.read_as == "xlsx sheet 'Elever'"
