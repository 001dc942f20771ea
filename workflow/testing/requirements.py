"""Requirement ids: each contract test names the docs/specification.md rule it checks (`@requirement`).

`REQUIREMENTS` maps every id to its section and rule; an unknown id fails at import, naming the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True, slots=True)
class Requirement:
    """One rule of docs/specification.md: its id, its section and the rule in a sentence."""

    id: str
    section: str
    rule: str


_RULES = (
    # §1 what it is
    ("REQ-1-WORDING", "§1", "user-facing texts arrive in their French wording, intact (UTF-8 end to end)"),
    # §3 the workflow definition
    ("REQ-3-CHECK-ORDER", "§3", "checks run in order: exists, lazy expiry, state allows, input, guard"),
    ("REQ-3-DEADLINES", "§3", "deadlines are exclusive (now >= deadline is over) and expire lazily"),
    ("REQ-3-ATTEMPTS", "§3", "attempts count per activation, only well-formed wrong answers; at max, locked"),
    ("REQ-3-RESENDS", "§3", "at most 3 resends per channel, cooldown from the last message"),
    ("REQ-3-REQUESTS", "§3", "at most 5 accepted requests per identifier in any 24 h"),
    ("REQ-3-HISTORY", "§3", "history records every transition taken, oldest first, self-loops included"),
    ("REQ-3-OUTBOX-FIT", "§3", "a message that no longer fits its activation is dropped unsent"),
    ("REQ-3-REFUSED", "§3", "a (state, event) pair not in the table is refused and changes nothing"),
    # §4 ports and errors
    ("REQ-4-STORE-ROUND-TRIP", "§4", "a store reads back exactly what was committed, every field"),
    ("REQ-4-STORE-COPIES", "§4", "a store returns copies: changing what it returned changes nothing stored"),
    ("REQ-4-STORE-QUERIES", "§4", "find, requests_since, due_for_expiry, outbox_of, list_activations, "
                                  "steps, turn and the LoginStore reads return exactly what their "
                                  "docstrings say"),
    ("REQ-4-EMAIL-QR", "§4", "the activation e-mail carries the QR as a PNG attachment, inline in the "
                             "HTML, and the same payload verbatim in the text"),
    ("REQ-4-SMS-CODE", "§4", "the SMS carries the code as the only number of its length"),
    ("REQ-4-DELIVERY", "§4", "send returns once the message is accepted, else raises DeliveryFailed "
                             "saying whether it is transient"),
    ("REQ-4-DIRECTORY", "§4", "lookup returns exactly that identifier's entry, None when unknown, "
                              "DirectoryUnavailable when it cannot tell"),
    ("REQ-4-ERRORS", "§4", "adapters raise AdapterError subclasses, translating foreign exceptions"),
    # §5 security
    ("REQ-5-AT-REST", "§5", "nothing secret readable at rest: no raw token, code, OTP secret or PIN"),
    ("REQ-5-NO-LEAK", "§5", "no secret and no full e-mail, phone or identifier in logs, errors, audit"),
    ("REQ-5-AUDIT", "§5", "every transition and refusal appends an audit event, hash-chained by seq"),
    ("REQ-5-SINGLE-USE", "§5", "tokens and codes are single use, also under concurrency"),
    ("REQ-5-HEADERS", "§5", "directory data (e-mail, name) never becomes an extra mail header"),
    # §6 reliability
    ("REQ-6-ATOMIC", "§6", "an event is one transaction: writes, outbox and audit together or nothing"),
    ("REQ-6-CAS", "§6", "compare-and-set on the version: a stale write raises ConcurrencyConflict"),
    ("REQ-6-NO-LOST-UPDATE", "§6", "two concurrent events: one wins, never a lost update"),
    ("REQ-6-OUTBOX", "§6", "outbox upsert by id; claims with a lease, oldest due first, never twice"),
    ("REQ-6-AT-LEAST-ONCE", "§6", "messages leave at least once, retried with back-off, ids stable"),
    ("REQ-6-DURABLE", "§6", "committed state survives a restart"),
    ("REQ-6-UTC", "§6", "every stored time is timezone-aware UTC"),
    ("REQ-6-LINEARIZABLE", "§6", "concurrent events on one activation end as some serial order would"),
    # §8 the harness itself
    ("REQ-8-COVERAGE", "§8", "the property suite exercises every state, edge, guard outcome and boundary"),
)

REQUIREMENTS: dict[str, Requirement] = {i: Requirement(i, s, r) for i, s, r in _RULES}


def requirement(*ids: str) -> Callable[[F], F]:
    """Tag a test with the requirement ids it checks (at least one, each in `REQUIREMENTS`)."""

    def tag(test: F) -> F:
        name = getattr(test, "__qualname__", repr(test))
        if not ids:
            raise ValueError(f"{name}: @requirement needs at least one id")
        unknown = [i for i in ids if i not in REQUIREMENTS]
        if unknown:
            raise ValueError(f"{name}: unknown requirement ids {unknown}; see workflow.testing.requirements")
        test.requirements = ids  # type: ignore[attr-defined]
        return test

    return tag


def requirements_of(test: object) -> tuple[str, ...]:
    """The ids `test` was tagged with (empty when untagged)."""
    found: tuple[str, ...] = getattr(test, "requirements", ())
    return found


def contract_tests(cls: type) -> Iterator[tuple[str, tuple[str, ...]]]:
    """Each `test_*` method of a contract class (inherited ones included) with its ids."""
    for name in sorted(dir(cls)):
        if name.startswith("test"):
            yield name, requirements_of(getattr(cls, name))


def contract_table(*classes: type) -> str:
    """A Markdown table of each contract test with its requirement ids and its docstring."""
    rows = ["| contract | test | requirement ids | what it checks |", "|---|---|---|---|"]
    for cls in classes:
        for name, ids in contract_tests(cls):
            doc = (getattr(cls, name).__doc__ or "").strip().splitlines()
            rows.append(f"| `{cls.__name__}` | `{name}` | {', '.join(ids) or 'NONE'} | "
                        f"{doc[0] if doc else ''} |")
    return "\n".join(rows)


def requirement_table() -> str:
    """A Markdown table of every requirement id with its docs/specification.md section and rule."""
    rows = ["| id | docs/specification.md | rule |", "|---|---|---|"]
    rows += [f"| {r.id} | {r.section} | {r.rule} |" for r in REQUIREMENTS.values()]
    return "\n".join(rows)
