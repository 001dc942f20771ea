"""The engine page's examples run as written, imports included."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "engine.md"


def test_the_engine_page_examples_run_in_order() -> None:
    """Every Python block of docs/engine.md runs, each seeing what the earlier ones defined."""
    blocks = [textwrap.dedent(b) for b in re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)]
    assert len(blocks) == 3
    scope: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(PAGE), "exec"), scope)
    assert scope["visit"].state == "waiting"  # type: ignore[attr-defined]
