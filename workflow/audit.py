"""The tamper-evident audit trail: each event is chained to the previous one by a keyed hash.

An activation's events form its chain. Refused requests (activation id "") form one chain per
pseudonymised identifier (`subject`), numbered from 1. Refusals recorded before they were
chained have `seq` 0: each is checked alone, by its own hash (the legacy rule).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from workflow.domain import AuditEvent
from workflow.security import Keyring


def chain(
    keys: Keyring,
    prev_hash: str,
    *,
    activation_id: str,
    subject: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    outcome: str,
    reason: str = "",
    source: str = "",
    dest: str = "",
    step: int = 0,
) -> AuditEvent:
    """A new audit event sealed after `prev_hash` (`step` numbers a transition; the hash leaves it out)."""
    fields = (activation_id, subject, str(seq), at.isoformat(), actor, action, outcome, reason,
              source, dest, prev_hash)
    return AuditEvent(activation_id, subject, seq, at, actor, action, outcome, reason, source,
                      dest, prev_hash, keys.digest("audit", *fields), step)


def sealed_here(keys: Keyring, e: AuditEvent) -> bool:
    """Whether `e`'s hash is this key's digest of what it holds."""
    return chain(keys, e.prev_hash, activation_id=e.activation_id, subject=e.subject, seq=e.seq,
                 at=e.at, actor=e.actor, action=e.action, outcome=e.outcome, reason=e.reason,
                 source=e.source, dest=e.dest).hash == e.hash


def sealed_elsewhere(keys: Keyring, trail: Sequence[AuditEvent]) -> bool:
    """Whether the newest event of `trail` fails this key (the database was sealed with another
    key); False for an empty trail."""
    return bool(trail) and not sealed_here(keys, trail[-1])


def verify(keys: Keyring, events: Sequence[AuditEvent]) -> list[str]:
    """The problems found in one activation's trail, in order (empty when intact)."""
    problems: list[str] = []
    prev = ""
    for expected_seq, e in enumerate(sorted(events, key=lambda e: e.seq), start=1):
        if e.activation_id and e.seq != expected_seq:
            problems.append(f"event {e.seq}: expected sequence number {expected_seq}")
        if e.activation_id and e.prev_hash != prev:
            problems.append(f"event {e.seq}: does not follow the previous event")
        if not sealed_here(keys, e):
            problems.append(f"event {e.seq}: content does not match its hash")
        prev = e.hash
    return problems


def verify_refusals(keys: Keyring, events: Iterable[AuditEvent]) -> list[tuple[str, str]]:
    """The problems among refused requests, as (subject, problem), each chain checked in `seq`
    order: an edited refusal fails its hash, a removed or reordered one breaks the numbering or
    the link to the one before. Refusals with `seq` 0 (recorded unchained) are checked alone."""
    problems: list[tuple[str, str]] = []
    heads: dict[str, tuple[int, str]] = {}
    for e in sorted(events, key=lambda e: (e.subject, e.seq)):
        if not sealed_here(keys, e):
            problems.append((e.subject, f"refused request {e.seq}: content does not match its hash"))
        if e.seq == 0:
            continue
        seq, prev = heads.get(e.subject, (0, ""))
        if e.seq != seq + 1:
            problems.append((e.subject, f"refused request {e.seq}: expected sequence number {seq + 1}"))
        if e.prev_hash != prev:
            problems.append((e.subject, f"refused request {e.seq}: does not follow the previous one"))
        heads[e.subject] = (e.seq, e.hash)
    return problems
