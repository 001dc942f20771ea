"""The login's page shows the diagram the shipped definition draws now."""

from __future__ import annotations

from pathlib import Path

from workflow.diagrams import to_mermaid
from workflow.login import LOGIN_DEFINITION

PAGE = Path(__file__).resolve().parents[2] / "docs" / "login.md"


def test_the_page_shows_the_current_login_diagram() -> None:
    """docs/login.md embeds the Mermaid diagram of `LOGIN_DEFINITION` as generated."""
    assert f"```mermaid\n{to_mermaid(LOGIN_DEFINITION)}```" in PAGE.read_text(encoding="utf-8")


def test_the_rules_table_names_every_event() -> None:
    """Each event of the login's definition has a row in the rules table."""
    text = PAGE.read_text(encoding="utf-8")
    for event in {str(e.event) for e in LOGIN_DEFINITION.edges} | {"start"}:
        assert f"| `{event}` |" in text


def test_the_mermaid_diagram_colours_the_login_completed_as_its_goal() -> None:
    """A terminal state on the main path is the success: coloured as the goal, not a failure."""
    lines = to_mermaid(LOGIN_DEFINITION).splitlines()
    assert "    class completed goal" in lines
    assert "    class denied,expired,failed,cancelled failure" in lines
