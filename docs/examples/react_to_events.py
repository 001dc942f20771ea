"""React to what happens: in-process listeners after each commit, and the durable event feed.

Listeners are simple and immediate but live only as long as the process; the feed goes
through the transactional outbox to an `EventSink` (at-least-once, in order per activation,
retried), so a crash loses nothing. Run: python3 docs/examples/react_to_events.py
"""

from __future__ import annotations

import os

from adapters.memory import MemoryMailer, MemorySink, MemorySms, MemoryStore, StaticDirectory
from workflow import ActivationService, Settings
from workflow import events as ev  # ev.ActivationLocked is the event, not the error
from workflow.messages import DirectoryEntry
from workflow.testing import code_from, payload_from

SERVER_KEY = os.environ.get("ECPS_SECRET_KEY", "dev-only-key-never-in-production")

provisioned: list[str] = []
alerts: list[str] = []


def provision_account(event: ev.DomainEvent) -> None:
    """Create the professional's account once the e-CPS is active (subject: pseudonym)."""
    provisioned.append(event.subject)


def alert_security(event: ev.DomainEvent) -> None:
    """Page someone when an activation or credential locks."""
    alerts.append(f"{event.activation_id} locked after {event.action}")


def flaky(event: ev.DomainEvent) -> None:
    raise RuntimeError("a bug in the host")  # logged and counted; the transition stands


feed = MemorySink()  # in production: adapters.webhook.WebhookSink(url, secret) or your own
mailer, sms = MemoryMailer(), MemorySms()
service = ActivationService(
    store=MemoryStore(), mailer=mailer, sms=sms,
    directory=StaticDirectory([
        DirectoryEntry("899700366240", "jane.doe@domain.fr", "0612345678", "Dr Jane Doe"),
    ]),
    settings=Settings(secret_key=SERVER_KEY, argon2_memory_kib=64,
                      argon2_time_cost=1, argon2_parallelism=1),
    listeners=[flaky],
    sink=feed,
)
service.listeners.add(provision_account, ev.ActivationCompleted)
service.listeners.add(alert_security, ev.ActivationLocked)

aid = service.request("899700366240").activation_id
service.dispatch()
service.scan(aid, payload_from(mailer.sent[-1]))
service.dispatch()
service.verify_sms(aid, code_from(sms.sent[-1]))
service.set_pin(aid, "4821")
service.confirm_pin(aid, "4821")
for _ in range(3):
    service.dispatch()  # your worker's loop also delivers the feed

print("provisioned:", provisioned, "listener failures:", service.listeners.failures)
assert len(provisioned) == 1
assert service.listeners.failures == 6  # flaky raised on each of the six transitions

# A feed consumer is idempotent: it remembers the keys it handled.
handled: set[str] = set()
for event in feed.events:
    if event.key in handled:
        continue  # a redelivery (at-least-once)
    handled.add(event.key)
    print(event.key, event.kind, event.source, "→", event.dest)
assert [e.kind for e in feed.events][-1] == "activation.completed"
