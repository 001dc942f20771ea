"""What the browser tests read off the pages: the diagram's marks, the timeline, the phone's keypad."""

from __future__ import annotations

import itertools
import re
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import expect

from tests.browser.conftest import Server
from workflow.diagrams.dot import _NOW as NOW
from workflow.diagrams.dot import _TAKEN as TAKEN

MARKS = """() => Object.fromEntries([...document.querySelectorAll('figure.diagram svg g.node')].map(g => {
  const shape = g.querySelector('path, ellipse, polygon');
  return [g.querySelector('title').textContent, [shape.getAttribute('stroke'), shape.getAttribute('fill')]];
}))"""
EDGES = """() => [...document.querySelectorAll('figure.diagram svg g.edge')]
  .filter(g => g.querySelector('path').getAttribute('stroke') === 'TAKEN')
  .map(g => g.querySelector('title').textContent)""".replace("TAKEN", TAKEN)


def shows(page: Any, path: list[str], last_step: str, outcome: str = "ok") -> None:
    """The console on `page` shows `path` highlighted, its end marked current, `last_step` last."""
    figure = page.locator("figure.diagram")
    expect(figure).to_have_attribute("data-path", " ".join(path))
    expect(figure).to_have_attribute("data-state", path[-1])
    marks: dict[str, list[str]] = page.evaluate(MARKS)
    assert {s for s, (stroke, _) in marks.items() if stroke == TAKEN} == set(path)
    assert [s for s, (_, fill) in marks.items() if fill == NOW] == [path[-1]]
    taken = set(page.evaluate(EDGES))
    assert {f"{a}->{b}" for a, b in itertools.pairwise(path) if a != b} <= taken
    last = page.locator("table.timeline tbody tr").last
    expect(last.locator("td.step")).to_have_text(last_step)
    expect(last.locator("td.outcome")).to_have_text(outcome)


def phone_state(phone: Any, state: str) -> None:
    """The phone shows the activation in `state` (looked for every 50 ms, then asserted)."""
    phone.wait_for_function("s => document.getElementById('phone-state')?.textContent.trim() === s",
                            arg=state, polling=50)
    expect(phone.locator("#phone-state")).to_have_text(state)


def keypad(phone: Any, digits: str) -> None:
    """Type `digits` on the phone's keypad and press OK."""
    for d in digits:
        phone.get_by_role("button", name=d, exact=True).click()
    phone.get_by_role("button", name="OK", exact=True).click()


def only_server(server: Server) -> None:
    """Every request the browser made went to the server under test."""
    hosts = {urlsplit(u).netloc for u in server.requests if not u.startswith(("data:", "blob:"))}
    assert hosts == {urlsplit(server.url).netloc}, hosts


def code_in(text: str, digits: int = 6) -> str:
    """The code an SMS carries."""
    found = re.search(rf"\b\d{{{digits}}}\b", text)
    assert found, "no code in the SMS"
    return found.group(0)
