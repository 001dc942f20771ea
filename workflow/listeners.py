"""In-process listeners of domain events, called after the commit that made them.

A listener that raises never undoes nor blocks anything: its failure is logged and counted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence

from workflow.events import DomainEvent

log = logging.getLogger("ecps.listeners")

Listener = Callable[[DomainEvent], object]
"""A callable given each event; what it returns is ignored."""


class Listeners:
    """The listeners registered on a service, each with the event kinds it wants.

    Events reach listeners in commit order within a call, in the thread that committed;
    calls on other threads may interleave (the durable feed is the ordered one).
    """

    def __init__(self, listeners: Iterable[Listener] = ()) -> None:
        self._lock = threading.Lock()
        self._entries: list[tuple[Listener, tuple[type[DomainEvent], ...]]] = []
        self._failures = 0
        for listener in listeners:
            self.add(listener)

    def add(self, listener: Listener, *kinds: type[DomainEvent]) -> Listener:
        """Register `listener` for `kinds` (all events when none); returns it (decorator-ready)."""
        if not callable(listener):
            raise TypeError(f"a listener must be callable, got {type(listener).__name__}")
        for kind in kinds:
            if not (isinstance(kind, type) and issubclass(kind, DomainEvent)):
                raise TypeError(f"listener kinds must be DomainEvent classes, got {kind!r}")
        with self._lock:
            self._entries.append((listener, kinds))
        return listener

    def remove(self, listener: Listener) -> None:
        """Unregister every registration of `listener` (no error if absent)."""
        with self._lock:
            self._entries = [e for e in self._entries if e[0] is not listener]

    @property
    def failures(self) -> int:
        """How many listener calls raised so far."""
        with self._lock:
            return self._failures

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def notify(self, events: Sequence[DomainEvent]) -> None:
        """Give each event, in order, to each listener that wants it; never raises an Exception."""
        with self._lock:
            entries = list(self._entries)
        if not entries:
            return
        for event in events:
            for listener, kinds in entries:
                if kinds and not isinstance(event, kinds):
                    continue
                try:
                    listener(event)
                except Exception as exc:
                    self.failed(listener, event, exc)

    def failed(self, listener: object, event: DomainEvent, exc: BaseException) -> None:
        """Log and count one listener failure (also used for failures reported later)."""
        with self._lock:
            self._failures += 1
        name = getattr(listener, "__qualname__", type(listener).__name__)
        log.error("listener %s failed on %s %s: %s", name, event.kind, event.key,
                  type(exc).__name__, exc_info=exc)
