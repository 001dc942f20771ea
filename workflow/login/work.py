"""One login event's unit of work, and the seal of a login row."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from workflow.domain import AuditEvent, Change, OutboxMessage, Turn
from workflow.errors import WorkflowError
from workflow.login.definition import LoginEvent
from workflow.login.record import LOGIN_FIELDS, Login, LoginWrite
from workflow.security import Keyring


@dataclass(slots=True)
class LoginWork:
    """What one event does to one login (and to the credential it counted on)."""

    login: Login
    expected_version: int | None
    now: datetime
    event: LoginEvent
    actor: str
    audit_events: list[AuditEvent] = field(default_factory=list)
    outbox: list[OutboxMessage] = field(default_factory=list)
    credential: Change = field(default_factory=Change)
    error: WorkflowError | None = None
    turn: Turn | None = None

    def change(self, keys: Keyring | None = None) -> Change:
        """The store change that saves all of it at once, the login sealed with `keys` if given."""
        self.login.version += 1
        if keys is not None:
            self.login.seal = seal_of(keys, self.login)
        c = self.credential
        return Change(c.writes, c.outbox + tuple(self.outbox), c.audit + tuple(self.audit_events),
                      c.turns + (() if self.turn is None else (self.turn,)),
                      logins=(LoginWrite(self.login, self.expected_version),))


def sealed_fields(g: Login) -> list[str]:
    """Every field of `g` but its seal, as text."""
    return [str(getattr(g, name)) for name in LOGIN_FIELDS if name != "seal"]


def seal_of(keys: Keyring, g: Login) -> str:
    """The keyed digest of every field of `g` but its seal."""
    return keys.digest("login-row", *sealed_fields(g))


def intact(keys: Keyring, g: Login) -> bool:
    """Whether `g` still holds what was sealed."""
    return keys.matches(g.seal, "login-row", *sealed_fields(g))
