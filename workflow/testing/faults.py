"""Fault-injecting wrappers for every port: they pass calls to any adapter, fail on a schedule or a
predicate, and record what went through.

    mailer = FaultyMailer(MemoryMailer()).inject(transient_delivery(), times=2)
    store = FaultyStore(SqlStore(url)).inject(StorageError("disk full"), method="commit", phase="after")
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal, Self, TypeVar

from workflow.definition import State
from workflow.domain import Activation, AuditEvent, Change, OutboxMessage, Step
from workflow.errors import ConcurrencyConflict, DeliveryFailed, DirectoryUnavailable, StorageError
from workflow.messages import DirectoryEntry, Email, Sms
from workflow.ports import Directory, Mailer, SmsGateway, Store

R = TypeVar("R")
Phase = Literal["before", "after"]
ErrorFactory = Callable[[], BaseException]


@dataclass(frozen=True, slots=True)
class Call:
    """One call that reached a wrapper: its method, arguments, and the error it ended with (if any)."""

    seq: int
    method: str
    args: tuple[object, ...]
    error: BaseException | None = None
    injected: bool = False
    reached_adapter: bool = True

    @property
    def ok(self) -> bool:
        """Whether the call returned normally."""
        return self.error is None


@dataclass(slots=True)
class Rule:
    """Fail matching calls: skip the first `after`, then fail `times` of them (None: every one).

    `phase="before"` fails without calling the adapter; `"after"` calls it, then fails (the effect
    happened but the caller is told it did not, as when a reply is lost).
    """

    error: ErrorFactory
    method: str | None = None
    when: Callable[[Call], bool] | None = None
    after: int = 0
    times: int | None = 1
    every: int = 1
    phase: Phase = "before"
    seen: int = 0
    fired: int = 0

    def matches(self, call: Call) -> bool:
        """Whether `call` is one this rule looks at."""
        return (self.method is None or self.method == call.method) and (
            self.when is None or self.when(call)
        )

    def fire(self) -> bool:
        """Count a matching call; whether this one must fail."""
        self.seen += 1
        nth = self.seen - self.after
        if nth <= 0 or (nth - 1) % self.every or (self.times is not None and self.fired >= self.times):
            return False
        self.fired += 1
        return True

    @property
    def spent(self) -> bool:
        """Whether the rule will never fire again."""
        return self.times is not None and self.fired >= self.times


def transient_delivery(message: str = "injected transient delivery failure") -> ErrorFactory:
    """A `DeliveryFailed` worth retrying."""
    return lambda: DeliveryFailed(message, transient=True)


def permanent_delivery(message: str = "injected permanent delivery failure") -> ErrorFactory:
    """A `DeliveryFailed` not worth retrying."""
    return lambda: DeliveryFailed(message, transient=False)


def directory_down(message: str = "injected directory outage") -> ErrorFactory:
    """A `DirectoryUnavailable`."""
    return lambda: DirectoryUnavailable(message)


def storage_error(message: str = "injected storage failure", transient: bool = True) -> ErrorFactory:
    """A `StorageError`."""
    return lambda: StorageError(message, transient=transient)


def conflict(message: str = "injected concurrent change") -> ErrorFactory:
    """A `ConcurrencyConflict`."""
    return lambda: ConcurrencyConflict(message)


class Faulty:
    """The shared machinery of the wrappers: rules, a thread-safe call log, delegation."""

    methods: ClassVar[frozenset[str]] = frozenset()
    """The port's methods this wrapper can fail (what `inject(method=...)` accepts)."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.calls: list[Call] = []
        self.rules: list[Rule] = []
        self._lock = threading.Lock()

    def inject(self, error: ErrorFactory | BaseException, *, method: str | None = None,
               when: Callable[[Call], bool] | None = None, after: int = 0, times: int | None = 1,
               every: int = 1, phase: Phase = "before") -> Self:
        """Add a rule (see `Rule`); an exception instance is re-raised as a fresh copy of its kind."""
        if after < 0 or every < 1 or (times is not None and times < 0):
            raise ValueError("after >= 0, every >= 1 and times >= 0 (or None) are required")
        if phase not in ("before", "after"):
            raise ValueError("phase must be 'before' or 'after'")
        if method is not None and method not in self.methods:
            raise ValueError(f"{type(self).__name__} has no method {method!r} to fail; "
                             f"it wraps {', '.join(sorted(self.methods))}")
        if not (isinstance(error, BaseException) or callable(error)):
            raise TypeError(f"inject() needs an exception or a factory of exceptions, "
                            f"not {type(error).__name__}")
        factory = _factory(error) if isinstance(error, BaseException) else error
        with self._lock:
            self.rules.append(Rule(factory, method, when, after, times, every, phase))
        return self

    def fail_always(self, error: ErrorFactory | BaseException, *, method: str | None = None) -> Self:
        """A permanent outage: every matching call fails."""
        return self.inject(error, method=method, times=None)

    def heal(self) -> None:
        """Remove every rule: calls pass again."""
        with self._lock:
            self.rules.clear()

    def calls_to(self, method: str) -> list[Call]:
        """The recorded calls of `method`, in order."""
        with self._lock:
            return [c for c in self.calls if c.method == method]

    @property
    def injected(self) -> int:
        """How many calls were made to fail."""
        with self._lock:
            return sum(c.injected for c in self.calls)

    def _accepted(self, kind: type[R]) -> list[R]:
        """The `kind` messages the wrapped adapter accepted (a fault raised after it did included)."""
        with self._lock:
            return [c.args[0] for c in self.calls
                    if c.reached_adapter and (c.ok or c.injected) and isinstance(c.args[0], kind)]

    def _call(self, method: str, fn: Callable[..., R], *args: object) -> R:
        with self._lock:
            probe = Call(len(self.calls), method, args)
            rule = next((r for r in self.rules if r.matches(probe) and r.fire()), None)
        if rule is not None and rule.phase == "before":
            error = rule.error()
            self._record(probe, error, injected=True, reached=False)
            raise error
        try:
            result = fn(*args)
        except BaseException as exc:
            self._record(probe, exc, injected=False, reached=True)
            raise
        if rule is not None:
            error = rule.error()
            self._record(probe, error, injected=True, reached=True)
            raise error
        self._record(probe, None, injected=False, reached=True)
        return result

    def _record(self, probe: Call, error: BaseException | None, *, injected: bool, reached: bool) -> None:
        with self._lock:
            self.calls.append(Call(len(self.calls), probe.method, probe.args, error, injected, reached))


def _factory(error: BaseException) -> ErrorFactory:
    """Fresh copies of `error`: same kind, arguments and attributes (`transient`, `retry_after`...)."""
    return lambda: copy.copy(error)


class FaultyMailer(Faulty):
    """A `Mailer` wrapper; `delivered` lists the e-mails the wrapped mailer accepted."""

    methods = frozenset({"send"})

    def __init__(self, inner: Mailer) -> None:
        super().__init__(inner)
        self.mailer = inner

    def send(self, email: Email) -> None:
        self._call("send", self.mailer.send, email)

    @property
    def delivered(self) -> list[Email]:
        """E-mails handed to the wrapped mailer that it accepted."""
        return self._accepted(Email)


class FaultySms(Faulty):
    """An `SmsGateway` wrapper; `delivered` lists the SMS the wrapped gateway accepted."""

    methods = frozenset({"send"})

    def __init__(self, inner: SmsGateway) -> None:
        super().__init__(inner)
        self.gateway = inner

    def send(self, sms: Sms) -> None:
        self._call("send", self.gateway.send, sms)

    @property
    def delivered(self) -> list[Sms]:
        """SMS handed to the wrapped gateway that it accepted."""
        return self._accepted(Sms)


class FaultyDirectory(Faulty):
    """A `Directory` wrapper."""

    methods = frozenset({"lookup"})

    def __init__(self, inner: Directory) -> None:
        super().__init__(inner)
        self.directory = inner

    def lookup(self, national_id: str) -> DirectoryEntry | None:
        return self._call("lookup", self.directory.lookup, national_id)


class FaultyStore(Faulty):
    """A `Store` wrapper; method names are the port's (`commit`, `get`, `claim_outbox`, ...); the
    wrapped store's other abilities pass through."""

    methods = frozenset({"get", "find", "requests_since", "commit", "due_for_expiry", "claim_outbox",
                         "outbox_of", "audit_trail", "list_activations", "turn", "steps"})

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.store = inner

    def __getattr__(self, name: str) -> Any:
        """What the wrapped store has beyond the port (`dump`, the logins of `LoginStore`,
        `trail_head`, `in_process`...) passes through, unfailed and unrecorded: the service and
        the kit see the same optional abilities with the wrapper as without it."""
        if name.startswith("__") or name in ("inner", "store", "calls", "rules", "_lock"):
            raise AttributeError(name)
        return getattr(self.store, name)

    def get(self, activation_id: str) -> Activation | None:
        return self._call("get", self.store.get, activation_id)

    def find(self, subject: str, states: Collection[State]) -> list[Activation]:
        return self._call("find", self.store.find, subject, states)

    def requests_since(self, subject: str, since: datetime) -> list[datetime]:
        return self._call("requests_since", self.store.requests_since, subject, since)

    def commit(self, change: Change) -> None:
        self._call("commit", self.store.commit, change)

    def due_for_expiry(self, now: datetime, limit: int) -> list[str]:
        return self._call("due_for_expiry", self.store.due_for_expiry, now, limit)

    def claim_outbox(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxMessage]:
        return self._call("claim_outbox", self.store.claim_outbox, now, limit, lease)

    def outbox_of(self, activation_id: str) -> list[OutboxMessage]:
        return self._call("outbox_of", self.store.outbox_of, activation_id)

    def audit_trail(self, activation_id: str) -> list[AuditEvent]:
        return self._call("audit_trail", self.store.audit_trail, activation_id)

    def list_activations(self, limit: int = 100,
                         before: tuple[datetime, str] | None = None) -> list[Activation]:
        return self._call("list_activations", self.store.list_activations, limit, before)

    def turn(self, subject: str) -> int:
        return self._call("turn", self.store.turn, subject)

    def steps(self, activation_id: str, after: int = 0, limit: int = 100) -> list[Step]:
        return self._call("steps", self.store.steps, activation_id, after, limit)

    @property
    def committed(self) -> list[Change]:
        """The changes the wrapped store applied (including those whose success was hidden)."""
        with self._lock:
            return [c.args[0] for c in self.calls if c.method == "commit" and c.reached_adapter
                    and (c.ok or c.injected) and isinstance(c.args[0], Change)]
