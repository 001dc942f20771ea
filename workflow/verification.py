"""Audit verification: each trail's keyed hash chain, its replay through the definition, and its row.

`verify_trails` streams every activation of a store (or the first `limit`) and reports an
altered or cut chain, a trail the definition would not have taken, a row whose state,
counters or deadlines disagree with what its trail replays to, and (in a store outside the
service's process) a row whose seal is missing or does not match its fields; a whole run also
checks the chains of refused requests (one per pseudonymised identifier). `seal_legacy` seals
the rows written before seals that their trails vouch for. `make_checkpoint` signs a summary
of everything recorded so far; `verify_checkpoint` proves nothing before it was removed or changed.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from workflow import audit, seal
from workflow.domain import Activation, AuditEvent, Change, Write
from workflow.engine import AtBound, Interpreter, Outcome
from workflow.errors import (
    ActivationNotFound,
    ConcurrencyConflict,
    StorageError,
    TransitionNotAllowed,
)
from workflow.login.record import Login
from workflow.login.work import intact as login_intact
from workflow.ports import BrowsableStore, LoginStore, Store, in_process
from workflow.security import Keyring, text_arg

PAGE = 500
T = TypeVar("T")
NO_SEAL = "the row has no seal"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem with one activation's trail or row."""

    activation_id: str
    problem: str


@dataclass(slots=True)
class Verification:
    """What was verified and what was found; `wrong_key` when no event matches this server key."""

    activations: int = 0
    events: int = 0
    sealed: int = 0
    findings: list[Finding] = field(default_factory=list)
    logins: int = 0

    @property
    def wrong_key(self) -> bool:
        """Whether events exist but none was sealed with this key (another server's database)."""
        return self.events > 0 and self.sealed == 0

    @property
    def intact(self) -> bool:
        """Whether every trail and row checked out."""
        return not self.findings and not self.wrong_key


class _Replayed:
    """The instance a trail replays to: state, counters and deadline slots, nothing else."""

    def __init__(self, engine: Interpreter[Any, Any]) -> None:
        self.state: Any = None
        self.closed_reason = ""
        for c in engine.definition.counters:
            setattr(self, c.name, 0)
        for dl in engine.definition.deadlines:
            setattr(self, dl.attribute, None)


def replay(engine: Interpreter[Any, Any], events: list[AuditEvent]) -> tuple[_Replayed, list[str]]:
    """Replay a trail's transitions through the definition; the instance and the disagreements."""
    d = engine.definition
    inst, problems = _Replayed(engine), []
    for e in events:
        if e.outcome == "refused":
            continue
        if e.action == d.created_by and inst.state is None:
            engine.create(inst, e.at)
            continue
        if str(inst.state) != e.source:
            problems.append(f"event {e.seq}: {e.action} from {e.source}, but the trail stood in {inst.state}")
            return inst, problems
        taken = _take(engine, inst, e)
        if taken != (e.outcome, e.dest):
            problems.append(f"event {e.seq}: the definition takes {e.action} ({e.outcome}) from "
                            f"{e.source} to {taken[1] or 'a refusal'}, the trail says {e.dest}")
            return inst, problems
    return inst, problems


def _take(engine: Interpreter[Any, Any], inst: _Replayed, e: AuditEvent) -> tuple[str, str]:
    outcome = Outcome.WRONG if e.outcome == Outcome.EXHAUSTED else e.outcome
    try:
        if outcome == Outcome.OK:
            engine.admit(inst, e.action)
        moves = engine.apply(inst, e.action, e.at, outcome)
    except (AtBound, TransitionNotAllowed):
        return ("refused", "")
    return (str(moves[-1].outcome), str(moves[-1].dest))


def chain_problems(keys: Keyring, events: list[AuditEvent], seq: int, head: str, kind: str,
                   into: Verification) -> list[str]:
    """What is wrong with a trail's hash chain and with the row's record of its newest event
    (`seq`, `head`); the events and sealed ones are counted into `into`."""
    problems = audit.verify(keys, events)
    into.events += len(events)
    into.sealed += len(events) - sum("does not match its hash" in p for p in problems)
    if len(events) != seq or (events and events[-1].hash != head):
        problems.append(f"the trail holds {len(events)} event(s) but the {kind} recorded "
                        f"{seq}: events were removed or added")
    return problems


def check_record(store: Store, keys: Keyring, engine: Interpreter[Any, Any], record: Activation | Login,
                 into: Verification) -> None:
    """Verify one activation's or login's chain, its replay through `engine` and its row; add what
    is found to `into`."""
    if isinstance(record, Login):
        into.logins += 1
    else:
        into.activations += 1
    kind = "login" if isinstance(record, Login) else "activation"
    try:
        record, events = _row_and_trail(store, record)
    except StorageError as exc:  # one damaged event: named, and the others are still checked
        into.findings.append(Finding(record.id, f"its audit trail cannot be read ({exc})"))
        return
    problems = chain_problems(keys, events, record.audit_seq, record.audit_head, kind, into)
    if not problems:
        problems += _row_against_trail(engine, record, events) or _steps_problems(
            events, record.step_count)
    problems += _seal_problems(store, keys, record)
    into.findings += [Finding(record.id, p) for p in problems]


_LIVE_TRIES = 5  # reads of a row and its trail while the service goes on writing them


def _row_and_trail(store: Store, record: Activation | Login
                   ) -> tuple[Activation | Login, list[AuditEvent]]:
    """`record` (or the same row read again) with a trail that goes with it. On a live database
    the service may commit an event between the row's read and its trail's: a trail longer
    than the row records is read again with the row as it is now, while the row keeps moving."""
    events = store.audit_trail(record.id)
    for _ in range(_LIVE_TRIES):
        if len(events) <= record.audit_seq:
            break
        again = _read_again(store, record)
        if again is None or again.version == record.version:
            break  # the row did not move: the trail holds events it never recorded
        record, events = again, store.audit_trail(record.id)
    return record, events


def _read_again(store: Store, record: Activation | Login) -> Activation | Login | None:
    if isinstance(record, Login):
        return store.get_login(record.id) if isinstance(store, LoginStore) else None
    return store.get(record.id)


def _steps_problems(events: list[AuditEvent], step_count: int) -> list[str]:
    """What is wrong with the history numbers of a trail (its `step` column, which the hash
    leaves out): each transition numbered 1, 2, ... in the order of the chain, each refusal 0,
    and as many as the row counts."""
    taken = [e.step for e in sorted(events, key=lambda e: e.seq) if e.outcome != "refused"]
    if taken != list(range(1, len(taken) + 1)) or any(
            e.step for e in events if e.outcome == "refused"):
        return ["the history numbers of its events are not 1, 2, ... in the order of its chain: "
                "steps were renumbered, hidden or reordered outside the service"]
    if len(taken) != step_count:
        return [f"the row counts {step_count} step(s), its trail holds {len(taken)}"]
    return []


def _seal_problems(store: Store, keys: Keyring, record: Activation | Login) -> list[str]:
    """What is wrong with the row's seal (none for a store in the service's own process, whose
    rows are not sealed)."""
    if in_process(store):
        return []
    if not record.seal:
        return [f"{NO_SEAL}: it was written before seals and not sealed since (ecps db upgrade "
                "seals it when its trail vouches for it), or its seal was removed"]
    fits = login_intact(keys, record) if isinstance(record, Login) else seal.intact(keys, record)
    return [] if fits else ["the row does not match its seal: a field was changed outside the service"]


def _row_against_trail(engine: Interpreter[Any, Any], record: Activation | Login,
                       events: list[AuditEvent]) -> list[str]:
    inst, problems = replay(engine, events)
    if problems:
        return problems
    d = engine.definition
    if str(inst.state) != str(record.state):
        return [f"the row says {record.state}, its trail says {inst.state}"]
    for c in d.counters:
        count: int = getattr(record, c.name)
        if getattr(inst, c.name) != count:
            problems.append(f"the row's {c.name} is {count}, its trail gives {getattr(inst, c.name)}")
    for slot in dict.fromkeys(dl.attribute for dl in d.deadlines):
        mine: datetime | None = getattr(record, slot)
        theirs: datetime | None = getattr(inst, slot)
        if mine != theirs:
            problems.append(f"the row's {slot} is {_at(mine)}, its trail gives {_at(theirs)}")
    return problems


def disagreements(store: Store, keys: Keyring, engine: Interpreter[Any, Any],
                  record: Activation | Login) -> list[str]:
    """What `record`'s row and audit trail disagree on (chain, replay, state, counters, deadlines)."""
    found = Verification()
    check_record(store, keys, engine, record, found)
    return [f.problem for f in found.findings]


def newest_sealed_elsewhere(store: Store, keys: Keyring) -> str | None:
    """The id of the store's newest activation when neither its seal nor its trail's newest
    event is this key's (the database was made with another key); None when they are, or when
    there is nothing to tell (no activation, or a store of the service's own process)."""
    if in_process(store):
        return None
    newest = store.list_activations(1)
    if not newest:
        return None
    a = newest[0]
    if a.seal and seal.intact(keys, a):
        return None
    trail = store.audit_trail(a.id)
    return a.id if audit.sealed_elsewhere(keys, trail) else None


def verify_activation(store: Store, keys: Keyring, engine: Interpreter[Any, Any],
                      activation_id: object) -> Verification:
    """Verify one activation's chain, replay, row and seal, reading its row as stored (an edited
    row is what this explains, so it is not refused first); `ActivationNotFound` if there is
    none, `InvalidInput` for a malformed id."""
    aid = text_arg(activation_id, "activation_id", max_len=128)
    a = store.get(aid)
    if a is None:
        raise ActivationNotFound(aid)
    found = Verification()
    check_record(store, keys, engine, a, found)
    return found


def seal_legacy(store: Store, keys: Keyring, engine: Interpreter[Any, Any]) -> tuple[int, list[Finding]]:
    """Seal each activation row written before seals (an empty seal) whose chain and replayed
    trail agree with it: (rows sealed, what the others disagree on, left unsealed). Nothing is
    sealed in a store of the service's own process (its rows are not sealed)."""
    if in_process(store):
        return 0, []
    done, left = 0, []
    for a in _activations(store, None, None):
        if a.seal:
            continue
        found = Verification()
        check_record(store, keys, engine, a, found)
        problems = [f for f in found.findings if not f.problem.startswith(NO_SEAL)]
        if problems:
            left += problems
            continue
        seal.sealed(keys, a)
        try:
            store.commit(Change(writes=(Write(a, a.version),)))  # the same version: sealed only
        except ConcurrencyConflict:
            continue  # changed meanwhile (another run sealed it): a later run sees it
        done += 1
    return done, left


def verify_trails(store: Store, keys: Keyring, engine: Interpreter[Any, Any], *,
                  limit: int | None = None, only: str | None = None,
                  progress: Callable[[int], None] | None = None) -> Verification:
    """Verify every activation (the first `limit` by id, or `only` one); streamed page by page."""
    found = Verification()
    for a in _activations(store, limit, only, reading(store.get, found, "activations")):
        check_record(store, keys, engine, a, found)
        if progress is not None:
            progress(1)
    if only is None and limit is None:
        check_refusals(store, keys, found)
    return found


def reading(get: Callable[[str], T | None], into: Verification,
            counted: str) -> Callable[[str], T | None]:
    """`get`, with a row that cannot be read named in `into` (and counted in its `counted`)
    instead of stopping the run: the other rows are still checked."""
    def read(record_id: str) -> T | None:
        try:
            return get(record_id)
        except StorageError as exc:
            setattr(into, counted, getattr(into, counted) + 1)
            into.findings.append(Finding(record_id, f"its row cannot be read ({exc})"))
            return None
    return read


def check_refusals(store: Store, keys: Keyring, into: Verification) -> None:
    """Verify the chains of refused requests; add what is found to `into` (named by subject)."""
    events = store.audit_trail("")
    into.events += len(events)
    problems = audit.verify_refusals(keys, events)
    into.sealed += len(events) - sum("does not match its hash" in p for _, p in problems)
    into.findings += [Finding(f"refusals:{subject[:12] or '-'}", p) for subject, p in problems]


def _activations(store: Store, limit: int | None, only: str | None,
                 get: Callable[[str], Activation | None] | None = None) -> Iterator[Activation]:
    read = store.get if get is None else get
    if only is not None:
        a = read(only)
        if a is not None:
            yield a
        return
    if not isinstance(store, BrowsableStore):
        yield from store.list_activations(limit or 10**9)
        return
    yield from paged(store.activation_ids, read, limit)


def paged(ids: Callable[[str | None, int], list[str]], get: Callable[[str], T | None],
             limit: int | None = None) -> Iterator[T]:
    """The records whose ids `ids(after, count)` gives a `PAGE` at a time in id order (the first
    `limit` of them), each read with `get`; one gone meanwhile is passed over."""
    after, left = None, limit
    while left is None or left > 0:
        page = ids(after, PAGE if left is None else min(PAGE, left))
        for key in page:
            found = get(key)
            if found is not None:
                yield found
        if len(page) < PAGE:
            return
        after = page[-1]
        left = None if left is None else left - len(page)


def _at(when: datetime | None) -> str:
    return "none" if when is None else when.isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed summary of every audit event recorded up to `at`, to keep away from the database.

    `digest` folds, trail by trail in id order, the newest event each trail held at `at`: the
    activations', the push logins' (when `logins`; checkpoints made before logins were covered
    say False) and the request refusals'; a later `verify_checkpoint` recomputes it, so
    removing or changing anything recorded before `at` shows.
    """

    at: datetime
    activations: int
    events: int
    digest: str
    signature: str
    logins: bool = True

    def as_dict(self) -> dict[str, object]:
        """The checkpoint as JSON-ready data."""
        return {"at": self.at.isoformat(), "activations": self.activations, "events": self.events,
                "digest": self.digest, "signature": self.signature, "logins": self.logins}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Checkpoint:
        """A checkpoint read back from `as_dict` data; `ValueError` when it is not one."""
        try:
            at = datetime.fromisoformat(str(data["at"]))
            logins = data.get("logins", False)
            if not isinstance(logins, bool):
                raise TypeError("logins is not true or false")
            return cls(at, int(str(data["activations"])), int(str(data["events"])),
                       str(data["digest"]), str(data["signature"]), logins)
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"not a checkpoint: {exc}") from None

    def signed(self) -> tuple[str, ...]:
        """What its signature covers."""
        fields = (self.at.isoformat(), str(self.activations), str(self.events), self.digest)
        return (*fields, "logins") if self.logins else fields


def _ids(pages: Callable[[str | None, int], list[str]]) -> Iterator[str]:
    """Every id `pages(after, count)` gives, a `PAGE` at a time, in id order."""
    after = None
    while True:
        page = pages(after, PAGE)
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1]


def _fold(store: Store, at: datetime, logins: bool) -> tuple[int, int, str]:
    """(activations, events, digest) of everything recorded at or before `at` (the push logins'
    trails too when `logins` and the store keeps them)."""
    running = hashlib.sha256()
    activations = events = 0
    ids: Iterator[str] = (a.id for a in _activations(store, None, None))
    login_ids = getattr(store, "login_ids", None) if logins else None
    trails = itertools.chain((("", False),), ((i, True) for i in ids),
                             ((i, False) for i in (_ids(login_ids) if login_ids else ())))
    for aid, is_activation in trails:
        trail = [e for e in store.audit_trail(aid) if e.at <= at]
        if not trail:
            continue
        activations += is_activation
        events += len(trail)
        newest = trail[-1]
        running.update("\x1f".join((aid, str(len(trail)), str(newest.seq), newest.hash)).encode())
        if not aid:  # the newest of each subject's chain and every unchained one: fold them all
            for e in trail:
                running.update(e.hash.encode())
    return activations, events, running.hexdigest()


def make_checkpoint(store: Store, keys: Keyring, now: datetime,
                    margin: timedelta = timedelta(minutes=1)) -> Checkpoint:
    """A checkpoint of everything recorded up to `margin` before `now` (commits in flight settle)."""
    at = now - margin
    unsigned = Checkpoint(at, *_fold(store, at, logins=True), signature="")
    return replace(unsigned, signature=keys.digest("checkpoint", *unsigned.signed()))


def verify_checkpoint(store: Store, keys: Keyring, checkpoint: Checkpoint) -> list[str]:
    """What no longer matches `checkpoint` (empty when nothing before it was removed or changed)."""
    if not keys.matches(checkpoint.signature, "checkpoint", *checkpoint.signed()):
        return ["the checkpoint's signature does not match this server's key (altered, or another key)"]
    activations, events, digest = _fold(store, checkpoint.at, checkpoint.logins)
    problems = []
    if activations < checkpoint.activations:
        problems.append(f"{checkpoint.activations - activations} activation(s) recorded before "
                        f"{checkpoint.at.isoformat(timespec='seconds')} are gone")
    if events != checkpoint.events:
        problems.append(f"the database holds {events} event(s) recorded up to "
                        f"{checkpoint.at.isoformat(timespec='seconds')}, where the checkpoint "
                        f"counted {checkpoint.events}")
    if digest != checkpoint.digest and not problems:
        problems.append("events recorded before the checkpoint were changed or replaced")
    return problems
