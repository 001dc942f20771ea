"""Audit verification of the logins: each trail's keyed hash chain, its replay through the login's
definition, and its row (state and validity), by the verifier of the activations."""

from __future__ import annotations

from typing import Any

from workflow.engine import Interpreter
from workflow.errors import StorageError
from workflow.login.record import Login
from workflow.ports import LoginStore, Store
from workflow.security import Keyring
from workflow.verification import Finding, Verification, check_record, paged


def verify_logins(store: Store, keys: Keyring, engine: Interpreter[Any, Any],
                  into: Verification) -> Verification:
    """Verify every login of `store` (when it keeps logins); add what is found to `into`."""
    if not isinstance(store, LoginStore):
        return into
    logins = store

    def read(login_id: str) -> Login | None:
        try:
            return logins.get_login(login_id)
        except StorageError as exc:  # one damaged row: named, and the others are still checked
            into.logins += 1
            into.findings.append(Finding(login_id, f"its row cannot be read ({exc})"))
            return None

    for g in paged(store.login_ids, read):
        check_record(store, keys, engine, g, into)
    return into
