"""Embed the engine in a synchronous service: build it once, call it from your handlers.

Run: python3 docs/examples/sync_service.py
"""

from __future__ import annotations

import os

from adapters.memory import MemoryMailer, MemorySms, MemoryStore, StaticDirectory
from workflow import ActivationService, Settings, State, VerificationFailed
from workflow.messages import DirectoryEntry
from workflow.testing import code_from, payload_from

SERVER_KEY = os.environ.get("ECPS_SECRET_KEY", "dev-only-key-never-in-production")

# Real deployments: adapters.bootstrap.build_service(), or SqlStore / SmtpMailer / your own
# SMS gateway and directory. Memory adapters keep this example self-contained.
mailer, sms = MemoryMailer(), MemorySms()
service = ActivationService(
    store=MemoryStore(),
    mailer=mailer,
    sms=sms,
    directory=StaticDirectory([
        DirectoryEntry("899700366240", "jane.doe@domain.fr", "0612345678", "Dr Jane Doe"),
    ]),
    # cheap PIN hashing so the example runs in a blink; keep the defaults in production
    settings=Settings(secret_key=SERVER_KEY, argon2_memory_kib=64,
                      argon2_time_cost=1, argon2_parallelism=1),
)

# 1. The app sends the identifier; show it the masked contacts.
started = service.request("899700366240", device_id="phone-1")
print("requested:", started.activation_id, started.masked_email, started.masked_phone)

# 2. A worker (cron, loop, task queue) delivers the outbox: the e-mail with the QR code leaves.
service.dispatch()

# 3. The app scans the QR code (here: the same link, read from the e-mail's text).
service.scan(started.activation_id, payload_from(mailer.sent[-1]))
service.dispatch()  # the SMS code leaves

# 4. The app submits the SMS code; a wrong one tells how many attempts are left.
try:
    service.verify_sms(started.activation_id, "000000")
except VerificationFailed as wrong:
    print("wrong code, attempts left:", wrong.attempts_left)
service.verify_sms(started.activation_id, code_from(sms.sent[-1]))

# 5. PIN, confirmation: the e-CPS is active; then the professional logs in with it.
service.set_pin(started.activation_id, "4821")
service.confirm_pin(started.activation_id, "4821")
assert service.authenticate(started.activation_id, "4821")

status = service.status(started.activation_id)
print("state:", status.state, "after", " → ".join(s.event for s in status.history))
assert status.state == State.ACTIVE
