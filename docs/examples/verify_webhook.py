"""Receive the event feed over HTTP and verify each request's signature.

The sender (`WebhookSink`) signs `"{timestamp}.{body}"` with HMAC-SHA256 and a shared secret;
the receiver checks it with `verify_request` (or `verify_signature`), which also refuses
requests older than 5 minutes (replay). Run: python3 docs/examples/verify_webhook.py
"""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from adapters.memory import MemoryMailer, MemorySms, MemoryStore, StaticDirectory
from adapters.webhook import KEY_HEADER, WebhookSink, verify_request
from workflow import ActivationService, Settings
from workflow.messages import DirectoryEntry

SERVER_KEY = os.environ.get("ECPS_SECRET_KEY", "dev-only-key-never-in-production")

SHARED = os.environ.get("ECPS_WEBHOOK_SECRET", "whsec-shared-by-sender-and-receiver")
received: dict[str, dict[str, object]] = {}  # by idempotency key: each event handled once
forged: list[str] = []


class Hook(BaseHTTPRequestHandler):
    """The receiving service's endpoint."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if not verify_request(SHARED, dict(self.headers.items()), body):
            forged.append(self.path)
            self.send_response(401)  # permanent: the sender will not retry
        else:
            received.setdefault(self.headers[KEY_HEADER], json.loads(body))
            self.send_response(204)  # 2xx: accepted (5xx or a timeout: retried later)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}/hooks/ecps"

service = ActivationService(
    store=MemoryStore(), mailer=MemoryMailer(), sms=MemorySms(),
    directory=StaticDirectory([
        DirectoryEntry("899700366240", "jane.doe@domain.fr", "0612345678", "Dr Jane Doe"),
    ]),
    settings=Settings(secret_key=SERVER_KEY, argon2_memory_kib=64,
                      argon2_time_cost=1, argon2_parallelism=1),
    sink=WebhookSink(url, SHARED, timeout=5),
)
aid = service.request("899700366240").activation_id
service.cancel(aid)
service.dispatch()

print("received:", [event["type"] for event in received.values()])
assert [event["type"] for event in received.values()] == ["activation.requested",
                                                          "activation.cancelled"]

# Someone without the secret cannot forge an event:
impostor = ActivationService(
    store=MemoryStore(), mailer=MemoryMailer(), sms=MemorySms(),
    directory=StaticDirectory([DirectoryEntry("899700366240", "x@y.fr", "0600000000")]),
    settings=Settings(secret_key=SERVER_KEY[::-1]),
    sink=WebhookSink(url, "a-guess-at-the-secret-0000"),
)
impostor.request("899700366240")
impostor.dispatch()
assert len(forged) == 2  # its two events (requested, then e-mail sent), both refused
assert len(received) == 2
print("forged requests refused:", len(forged))
server.shutdown()
