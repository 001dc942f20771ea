"""A login as stored, and its write in a store change; nothing here holds a secret in clear."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime

from workflow.login.definition import LOGIN_DEFINITION, LoginState


@dataclass(slots=True)
class Login:
    """One login asked for by a portal, for the credential (`activation_id`) of a subject.

    `expires_at` is the validity's deadline slot; the audit trail (stream `id`) is chained
    like an activation's (`audit_seq`, `audit_head`) and the row is sealed like one; the
    assertion itself is never stored.
    """

    id: str
    subject: str
    activation_id: str
    state: LoginState
    created_at: datetime
    client_id: str
    client_name: str
    binding_message: str
    expires_at: datetime | None = None
    version: int = 0
    closed_reason: str = ""
    approved_at: datetime | None = None
    last_poll_at: datetime | None = None
    audit_seq: int = 0
    audit_head: str = ""
    step_count: int = 0
    seal: str = ""  # keyed digest of every other field, set at each commit by a store out of process

    def due_at(self) -> datetime | None:
        """When the login expires if nothing happens (None once it ended)."""
        return LOGIN_DEFINITION.due_at(self)


LOGIN_FIELDS = tuple(f.name for f in fields(Login))


def copy_login(login: Login) -> Login:
    """An independent copy of `login` (its fields are immutable values)."""
    return replace(login)


@dataclass(frozen=True, slots=True)
class LoginWrite:
    """Save `login`; `expected_version` None inserts, else compare-and-set."""

    login: Login
    expected_version: int | None
