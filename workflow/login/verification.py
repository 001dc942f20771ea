"""Audit verification of the logins: each trail's keyed hash chain, its replay through the login's
definition, and its row (state and validity), with the activation's own verifier."""

from __future__ import annotations

from typing import Any

from workflow.engine import Interpreter
from workflow.login.record import Login
from workflow.ports import LoginStore, Store
from workflow.security import Keyring
from workflow.verification import Finding, Verification, chain_problems, paged, replay


def verify_logins(store: Store, keys: Keyring, engine: Interpreter[Any, Any],
                  into: Verification) -> Verification:
    """Verify every login of `store` (when it keeps logins); add what is found to `into`."""
    if not isinstance(store, LoginStore):
        return into
    for g in paged(store.login_ids, store.get_login):
        check_login(store, keys, engine, g, into)
    return into


def check_login(store: Store, keys: Keyring, engine: Interpreter[Any, Any], g: Login,
                into: Verification) -> None:
    """Verify one login's trail (chain, replay) against its row; add what is found to `into`."""
    events = store.audit_trail(g.id)
    into.logins += 1
    problems = chain_problems(keys, events, g.audit_seq, g.audit_head, "login", into)
    if not problems:
        inst, problems = replay(engine, events)
        if not problems and str(inst.state) != str(g.state):
            problems.append(f"the row says {g.state}, its trail says {inst.state}")
        elif not problems and getattr(inst, "expires_at", None) != g.expires_at:
            problems.append("the row's validity differs from what its trail gives")
    into.findings += [Finding(g.id, p) for p in problems]


def login_disagreements(store: Store, keys: Keyring, engine: Interpreter[Any, Any],
                        g: Login) -> list[str]:
    """What `g`'s row and audit trail disagree on (chain, replay, state, validity)."""
    found = Verification()
    check_login(store, keys, engine, g, found)
    return [f.problem for f in found.findings]
