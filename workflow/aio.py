"""`AsyncActivationService`: the calls of `ActivationService`, awaited without blocking the event loop.

Each call runs the synchronous core in a worker thread (`asyncio.to_thread`, or the executor
given); results, errors and semantics are the same. A cancelled await does not cancel the
call: its thread finishes and commits (check `status` when that matters).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, Future
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from workflow.events import DomainEvent
from workflow.listeners import Listener, Listeners
from workflow.login.results import LoginResult, LoginStarted, PendingLogin
from workflow.results import ActivationStatus, HistoryPage, Started, StepResult
from workflow.service import ActivationService
from workflow.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")
AsyncListener = Callable[[DomainEvent], Awaitable[object]]


class AsyncActivationService:
    """An asyncio face of one `ActivationService`: give it the service, or the same keywords.

        svc = AsyncActivationService(store=..., mailer=..., sms=..., directory=..., settings=...)
        started = await svc.request("899700366240", device_id="phone-1")
    """

    def __init__(self, service: ActivationService | None = None, /, *,
                 executor: Executor | None = None, **ports: Any) -> None:
        if service is None:
            service = ActivationService(**ports)
        elif ports:
            raise TypeError("give either an ActivationService or its keyword arguments, not both")
        if not isinstance(service, ActivationService):
            raise TypeError(f"service must be an ActivationService, got {type(service).__name__}")
        self.service = service
        self._executor = executor
        self._relays: dict[AsyncListener, list[Listener]] = {}

    @property
    def settings(self) -> Settings:
        """The service's settings."""
        return self.service.settings

    @property
    def listeners(self) -> Listeners:
        """The service's in-process listeners (synchronous ones run in the worker thread)."""
        return self.service.listeners

    def now(self) -> datetime:
        """The service clock's time."""
        return self.service.now()

    async def request(self, national_id: object, device_id: object = "",
                      device_key: object = None) -> Started:
        """`ActivationService.request`, awaited."""
        return await self._call(self.service.request, national_id, device_id, device_key)

    async def scan(self, activation_id: object, qr_payload: object) -> StepResult:
        """`ActivationService.scan`, awaited."""
        return await self._call(self.service.scan, activation_id, qr_payload)

    async def resend_email(self, activation_id: object) -> StepResult:
        """`ActivationService.resend_email`, awaited."""
        return await self._call(self.service.resend_email, activation_id)

    async def resend_sms(self, activation_id: object) -> StepResult:
        """`ActivationService.resend_sms`, awaited."""
        return await self._call(self.service.resend_sms, activation_id)

    async def verify_sms(self, activation_id: object, code: object) -> StepResult:
        """`ActivationService.verify_sms`, awaited."""
        return await self._call(self.service.verify_sms, activation_id, code)

    async def set_pin(self, activation_id: object, pin: object) -> StepResult:
        """`ActivationService.set_pin`, awaited."""
        return await self._call(self.service.set_pin, activation_id, pin)

    async def confirm_pin(self, activation_id: object, pin: object) -> StepResult:
        """`ActivationService.confirm_pin`, awaited."""
        return await self._call(self.service.confirm_pin, activation_id, pin)

    async def authenticate(self, activation_id: object, pin: object) -> bool:
        """`ActivationService.authenticate`, awaited."""
        return await self._call(self.service.authenticate, activation_id, pin)

    async def cancel(self, activation_id: object) -> StepResult:
        """`ActivationService.cancel`, awaited."""
        return await self._call(self.service.cancel, activation_id)

    async def revoke(self, activation_id: object, reason: object = "deleted", *,
                     actor: str = "app") -> StepResult:
        """`ActivationService.revoke`, awaited."""
        return await self._call(self.service.revoke, activation_id, reason, actor=actor)

    async def dispatch(self, limit: int = 100) -> int:
        """`ActivationService.dispatch`, awaited."""
        return await self._call(self.service.dispatch, limit)

    async def expire_due(self, batch: int = 500) -> int:
        """`ActivationService.expire_due`, awaited."""
        return await self._call(self.service.expire_due, batch)

    async def status(self, activation_id: object) -> ActivationStatus:
        """`ActivationService.status`, awaited."""
        return await self._call(self.service.status, activation_id)

    async def history(self, activation_id: object, after: object = None,
                      limit: object = 100) -> HistoryPage:
        """`ActivationService.history`, awaited."""
        return await self._call(self.service.history, activation_id, after, limit)

    async def close(self) -> None:
        """`ActivationService.close`, awaited."""
        await self._call(self.service.close)

    # -- the login workflow ---------------------------------------------------------------------

    async def start_login(self, national_id: object, *, client_id: object, client_name: object,
                          binding_message: object) -> LoginStarted:
        """`ActivationService.start_login`, awaited."""
        return await self._call(self.service.start_login, national_id, client_id=client_id,
                                client_name=client_name, binding_message=binding_message)

    async def pending_logins(self, activation_id: object) -> tuple[PendingLogin, ...]:
        """`ActivationService.pending_logins`, awaited."""
        return await self._call(self.service.pending_logins, activation_id)

    async def approve_login(self, login_id: object, pin: object) -> LoginResult:
        """`ActivationService.approve_login`, awaited."""
        return await self._call(self.service.approve_login, login_id, pin)

    async def deny_login(self, login_id: object) -> LoginResult:
        """`ActivationService.deny_login`, awaited."""
        return await self._call(self.service.deny_login, login_id)

    async def cancel_login(self, login_id: object, *, actor: str = "portal") -> LoginResult:
        """`ActivationService.cancel_login`, awaited."""
        return await self._call(self.service.cancel_login, login_id, actor=actor)

    async def login_result(self, login_id: object) -> LoginResult:
        """`ActivationService.login_result`, awaited."""
        return await self._call(self.service.login_result, login_id)

    async def jwks(self) -> dict[str, Any]:
        """`ActivationService.jwks` (held in memory: answered on the loop)."""
        return self.service.jwks()

    def listen(self, listener: AsyncListener, *kinds: type[DomainEvent]) -> AsyncListener:
        """Run the coroutine function `listener(event)` on the running loop after each commit.

        Call it from the event loop; it returns `listener` (decorator-ready). Failures are
        logged and counted in `listeners.failures`, like those of synchronous listeners. Once that
        loop has closed, the next event unregisters the listener (a warning is logged).
        """
        if not callable(listener):
            raise TypeError(f"a listener must be callable, got {type(listener).__name__}")
        loop = asyncio.get_running_loop()
        failed = self.service.listeners.failed

        def relay(event: DomainEvent) -> None:
            if loop.is_closed():  # its loop is gone for good: nothing can run it any more
                self._drop(listener, relay)
                return
            future = asyncio.run_coroutine_threadsafe(_awaited(listener, event), loop)
            future.add_done_callback(functools.partial(_report, failed, listener, event))

        self.service.listeners.add(relay, *kinds)
        self._relays.setdefault(listener, []).append(relay)
        return listener

    def _drop(self, listener: AsyncListener, relay: Listener) -> None:
        """Unregister one relay of `listener` whose loop has closed (logged once)."""
        relays = self._relays.get(listener, [])
        try:
            relays.remove(relay)
        except ValueError:
            return  # another thread dropped it first
        if not relays:
            self._relays.pop(listener, None)
        self.service.listeners.remove(relay)
        logging.getLogger("ecps.listeners").warning(
            "listener %s dropped: the event loop it was registered on is closed",
            getattr(listener, "__qualname__", type(listener).__name__))

    def unlisten(self, listener: AsyncListener) -> None:
        """Stop calling `listener`."""
        for relay in self._relays.pop(listener, []):
            self.service.listeners.remove(relay)

    async def _call(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        if self._executor is None:
            return await asyncio.to_thread(fn, *args, **kwargs)
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        call = functools.partial(context.run, fn, *args, **kwargs)
        return await loop.run_in_executor(self._executor, call)


async def _awaited(listener: AsyncListener, event: DomainEvent) -> None:
    await listener(event)


def _report(failed: Callable[[object, DomainEvent, BaseException], None], listener: object,
            event: DomainEvent, future: Future[None]) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if isinstance(exc, Exception):
        failed(listener, event, exc)
