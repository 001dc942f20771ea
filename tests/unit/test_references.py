"""The repository's texts point only inside it: every file a doc, docstring or help text names
exists, so a newcomer never follows a reference to a page the project does not ship."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEXT = (".py", ".md", ".toml", ".txt", ".cfg", ".ini", ".yml", ".yaml")
MARKDOWN_NAME = re.compile(r"(?<![\w/.-])([\w./-]*\w\.md)\b")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")
SECTION_OF = re.compile(r"\b([A-Z][A-Z_]{2,}) §")  # an upper-case name, then §: a page's section


def _files() -> list[Path]:
    """The repository's files: tracked, or new and not ignored."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / line for line in listed.splitlines() if (ROOT / line).is_file()]


def _texts() -> list[Path]:
    return [p for p in _files() if p.suffix in TEXT or p.parent.name == ".ci"]


def test_every_named_markdown_page_exists() -> None:
    """Each Markdown page a file names, by file name or by one of its sections, exists."""
    files = _files()
    names = {p.name for p in files}
    paths = {p.relative_to(ROOT).as_posix() for p in files}
    dangling = [
        f"{path.relative_to(ROOT)}:{number}: {name}"
        for path in _texts()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        for name in [*MARKDOWN_NAME.findall(line), *(f"{n}.md" for n in SECTION_OF.findall(line))]
        if name.lstrip("./") not in paths and Path(name).name not in names
    ]
    assert not dangling, "references to pages the repository does not have:\n" + "\n".join(dangling)


def test_every_relative_link_of_the_docs_resolves() -> None:
    """Each relative Markdown link of a `.md` file points at a file or folder of the repository."""
    broken = [
        f"{page.relative_to(ROOT)}: {target}"
        for page in _texts() if page.suffix == ".md"
        for target in MARKDOWN_LINK.findall(page.read_text(encoding="utf-8"))
        if "://" not in target and not target.startswith("mailto:")
        and not (page.parent / target).exists()
    ]
    assert not broken, "links to nothing:\n" + "\n".join(broken)
