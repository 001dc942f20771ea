"""The engine page's examples run as written, imports included."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

PAGE = Path(__file__).resolve().parents[2] / "docs" / "engine.md"


def test_the_engine_page_examples_run_in_order() -> None:
    """Every Python block of docs/engine.md runs, each seeing what the earlier ones defined."""
    blocks = [textwrap.dedent(b) for b in re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)]
    assert len(blocks) == 3
    scope: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(PAGE), "exec"), scope)
    assert scope["visit"].state == "waiting"  # type: ignore[attr-defined]


def test_the_page_definition_is_proved_with_its_own_defaults() -> None:
    """`max_tries` and `answer_validity` are no `Settings` fields: the checker takes the declared
    defaults, as the interpreter does, and proves every property; settings of its own still win."""
    from workflow.checker import check
    from workflow.engine import counter_bound, deadline_validity
    from workflow.settings import Settings

    scope: dict[str, object] = {}
    for block in [textwrap.dedent(b) for b in re.findall(r"```python\n(.*?)```", PAGE.read_text(),
                                                           flags=re.S)][:2]:
        exec(compile(block, str(PAGE), "exec"), scope)
    door: Any = scope["DOOR"]
    own: Any = scope["DoorSettings"]
    report = check(door)
    assert report.ok, report.render()
    settings = Settings(secret_key="k" * 32)
    assert [counter_bound(c, settings) for c in door.counters] == [3]
    assert [deadline_validity(d, settings).total_seconds() for d in door.deadlines] == [120]
    wider = check(door, settings=own(max_tries=5))
    assert wider.ok
    assert wider.states_explored > report.states_explored
