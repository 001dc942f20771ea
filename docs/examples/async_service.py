"""Embed the engine in an asyncio service (FastAPI, aiohttp...): await the same calls.

`AsyncActivationService` runs each call of the synchronous core in a worker thread, so the
event loop stays free while PINs are hashed and the store commits. Run:
python3 docs/examples/async_service.py
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import TypeVar

from adapters.memory import MemoryMailer, MemorySms, MemoryStore, StaticDirectory
from workflow import Settings, State, TransitionNotAllowed
from workflow.aio import AsyncActivationService
from workflow.messages import DirectoryEntry
from workflow.testing import code_from, payload_from

SERVER_KEY = os.environ.get("ECPS_SECRET_KEY", "dev-only-key-never-in-production")

T = TypeVar("T")
PEOPLE = [
    DirectoryEntry("899700366240", "jane.doe@domain.fr", "0612345678", "Dr Jane Doe"),
    DirectoryEntry("810100000008", "paul.martin@clinique.fr", "0798765432", "Paul Martin"),
]


async def main() -> None:
    mailer, sms = MemoryMailer(), MemorySms()
    service = AsyncActivationService(  # the same keyword arguments as ActivationService
        store=MemoryStore(), mailer=mailer, sms=sms, directory=StaticDirectory(PEOPLE),
        settings=Settings(secret_key=SERVER_KEY, argon2_memory_kib=64,
                          argon2_time_cost=1, argon2_parallelism=1),
    )

    async def outbox_worker() -> None:
        """Your service's background task: deliver the outbox (e-mails, SMS, events)."""
        while True:
            await service.dispatch()
            await asyncio.sleep(0.01)

    async def arrival(find: Callable[[], T | None]) -> T:
        """The phone waiting for its e-mail or SMS."""
        while (found := find()) is None:
            await asyncio.sleep(0.01)
        return found

    async def activate(entry: DirectoryEntry) -> str:
        """What the app's calls to your endpoints add up to, for one professional."""
        aid = (await service.request(entry.national_id, device_id="phone")).activation_id
        mail = await arrival(lambda: next((m for m in mailer.sent if f"a={aid}&" in m.text), None))
        await service.scan(aid, payload_from(mail))
        text = await arrival(lambda: next((s for s in sms.sent if s.to == entry.phone), None))
        await service.verify_sms(aid, code_from(text))
        await service.set_pin(aid, "4821")
        await service.confirm_pin(aid, "4821")
        return aid

    # Two professionals at once; errors are the same exceptions as with the sync service.
    worker = asyncio.create_task(outbox_worker())
    aids = await asyncio.gather(*(activate(p) for p in PEOPLE))
    worker.cancel()
    try:
        await service.verify_sms(aids[0], "123456")
    except TransitionNotAllowed as refused:  # the e-CPS is already active
        print("refused:", refused)
    for aid in aids:
        status = await service.status(aid)
        print(aid, status.state)
        assert status.state == State.ACTIVE


if __name__ == "__main__":
    asyncio.run(main())
