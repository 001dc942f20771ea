"""Audit verification of the logins: each trail's keyed hash chain, its replay through the login's
definition, and its row (state and validity), by the verifier of the activations."""

from __future__ import annotations

from typing import Any

from workflow.engine import Interpreter
from workflow.ports import LoginStore, Store
from workflow.security import Keyring
from workflow.verification import Verification, check_record, paged, reading


def verify_logins(store: Store, keys: Keyring, engine: Interpreter[Any, Any],
                  into: Verification) -> Verification:
    """Verify every login of `store` (when it keeps logins); add what is found to `into`."""
    if not isinstance(store, LoginStore):
        return into
    for g in paged(store.login_ids, reading(store.get_login, into, "logins")):
        check_record(store, keys, engine, g, into)
    return into
