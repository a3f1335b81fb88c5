"""Nothing `make run`, `make demo`, `make test` or the README needs lives outside the repository:
the README's and the docs' links resolve inside it, and no code the stack, the CLI, the demo or
the tests run points beside it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
# A path beside the checkout: ../shared, or <repository>.parent / "shared" / ...
OUTSIDE = re.compile(r"\.\./shared|/\s*\"shared\"\s*/")


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted(ROOT.glob("services/*/README.md"))]


def test_every_relative_link_of_the_readme_and_docs_is_a_file_of_the_repository() -> None:
    checked = 0
    for document in _documents():
        for target in LINK.findall(document.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target):
                continue  # http(s), mailto
            resolved = (document.parent / target).resolve()
            assert resolved.is_relative_to(ROOT), f"{document.name} links outside the repository: {target}"
            assert resolved.exists(), f"{document.name} links to a missing file: {target}"
            checked += 1
    assert checked, "the README links its architecture document"
    assert "docs/architecture.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_code_that_runs_the_stack_the_demo_and_the_tests_reads_nothing_beside_the_repository() -> None:
    sources = [ROOT / "Makefile", ROOT / "pyproject.toml"]
    for folder in ("essayflow_cli", "essayflow_runtime", "services", "tests", "tools"):
        sources += [p for p in (ROOT / folder).rglob("*") if p.suffix in {".py", ".sh", ".json"}]
    offending = [
        str(path.relative_to(ROOT))
        for path in sources
        if path != Path(__file__).resolve() and OUTSIDE.search(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert not offending, offending
    assert (ROOT / "essayflow_cli" / "demo_class.json").exists(), "the demo's labelled class is in the repository"
