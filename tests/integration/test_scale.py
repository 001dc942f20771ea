"""Two `ecps serve` and two `ecps dispatch --loop` processes on one PostgreSQL database: whole
activations over HTTP from a bounded client, then every invariant of the engine holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from adapters.device import DeviceKey
from adapters.sql import SqlStore
from tests.e2e.conftest import ROOT, cli_env
from tests.integration.people import crowd, directory_file
from tests.integration.scale_world import WAIT, Hooks, Inbox, Phone, Processes, mail_server
from tests.integration.webhook_receiver import free_port
from workflow.events import from_audit
from workflow.security import Keyring
from workflow.settings import Settings

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

# two per professional; 120 keep every race of the full size (6 clients, 2 servers, 2 dispatchers)
# within the suite's budget on two shared cores; ECPS_SCALE_ACTIVATIONS=2000 is the full size
ACTIVATIONS = int(os.environ.get("ECPS_SCALE_ACTIVATIONS", "120"))
PEOPLE = ACTIVATIONS // 2
BURST, BURST_REQUESTS = 4, 8  # identifiers asked for by many requests at once, and how many
THREADS = 6
KEY = "scale-server-key-" + "s" * 24
SECRET = "whsec-scale-" + "h" * 24


@pytest.fixture
def store(pg_url: str) -> Iterator[SqlStore]:
    """The shared schema, created before the processes start."""
    s = SqlStore(pg_url)
    s.ensure_schema()
    yield s
    s.close()


def _rows(store: SqlStore, query: str) -> list[tuple[object, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(query))]


def _settled(store: SqlStore, hooks: Hooks) -> None:
    """Wait until no outbox row is pending (re-checked whenever an event arrives)."""
    deadline = time.monotonic() + WAIT
    while _rows(store, "SELECT count(*) FROM ecps_outbox WHERE status = 'pending'")[0][0]:
        if time.monotonic() > deadline:
            raise AssertionError("the dispatchers left messages pending")
        hooks.events.wait_any(0.5)


def test_two_servers_and_two_dispatchers_keep_every_invariant(store: SqlStore, pg_url: str,
                                                              tmp_path: Path) -> None:
    """Limits, one credential per identifier, each message once, in order, and audit verify intact."""
    professionals = crowd(PEOPLE + BURST)
    mail, sms = Inbox(), Inbox()
    hooks = Hooks(SECRET, sms)
    ports = [free_port(), free_port()]
    with mail_server(mail) as smtp_url:
        procs = Processes({
            "ECPS_DATABASE_URL": pg_url, "ECPS_SECRET_KEY": KEY, "ECPS_STATE_DIR": str(tmp_path),
            "ECPS_SMTP_URL": smtp_url, "ECPS_SMS_URL": f"{hooks.url}/sms", "ECPS_SMS_TOKEN": "t",
            "ECPS_DIRECTORY": str(directory_file(tmp_path / "directory.json", PEOPLE + BURST)),
            "ECPS_WEBHOOK_URL": f"{hooks.url}/hooks", "ECPS_WEBHOOK_SECRET": SECRET,
            "ECPS_REQUEST_RATE": "1000000"})
        try:
            for port in ports:
                procs.start("serve", "--port", str(port), "--dispatch-every", "0",
                            ready="Application startup complete")
            for _ in range(2):
                procs.start("dispatch", "--loop", "--interval", "0.05")
            servers = [httpx.Client(base_url=f"http://127.0.0.1:{p}", timeout=WAIT) for p in ports]
            phone = Phone(servers, mail, sms)
            burst = professionals[PEOPLE:]
            with ThreadPoolExecutor(THREADS) as pool:
                asked = list(pool.map(lambda i: phone.post(i, "/activations", {
                    "national_id": burst[i % BURST].national_id,
                    "device_key": DeviceKey.generate().public_jwk}).status_code,
                    range(BURST * BURST_REQUESTS)))

                def twice(n: int) -> list[str]:
                    p = professionals[n]
                    return [phone.activate(p.national_id, p.email, p.phone or "", nth) for nth in (0, 1)]

                done = [aid for pair in pool.map(twice, range(PEOPLE)) for aid in pair]
            _settled(store, hooks)
            running = [proc.args for proc, _ in procs.running if proc.poll() is not None]
            assert running == []  # no process crashed
        finally:
            crashed = procs.stop()
        hooks.close()
    assert crashed == []
    assert len(done) == ACTIVATIONS
    for n in range(BURST):  # each burst identifier: exactly five accepted in the window
        assert [asked[i] for i in range(n, len(asked), BURST)].count(201) == 5, asked
    assert sorted(set(asked)) == [201, 429]

    keys = Keyring(Settings(secret_key=KEY))
    per_subject = _rows(store, "SELECT subject, count(*) FILTER (WHERE state = 'active'), count(*) "
                               "FROM ecps_activation GROUP BY subject")
    assert max(total for _, _, total in per_subject) <= 5
    actives = {subject: active for subject, active, _ in per_subject}
    assert all(actives[keys.pseudonym(p.national_id)] == 1 for p in professionals[:PEOPLE])
    assert _rows(store, "SELECT count(*) FROM ecps_activation WHERE state = 'revoked'") == [(PEOPLE,)]

    assert (mail.twice(), sms.twice(), hooks.events.twice()) == ([], [], [])  # no crash: once each
    assert hooks.unsigned == 0
    sent = dict(_rows(store, "SELECT channel, count(*) FROM ecps_outbox WHERE status = 'sent' "
                             "GROUP BY channel"))
    assert _rows(store, "SELECT DISTINCT status FROM ecps_outbox "
                        "WHERE status NOT IN ('sent', 'dropped')") == []
    assert (sent["email"], sent["sms"], sent["events"]) == (
        len(mail.ids), len(sms.ids), len(hooks.events.ids))
    for aid in done:  # the feed kept each activation's order
        expected = [e.action for e in map(from_audit, store.audit_trail(aid)) if e is not None]
        assert hooks.events.all(aid) == expected

    verify = subprocess.run([sys.executable, "-m", "adapters.cli", "audit", "verify", "--json",
                             "--database", pg_url], cwd=ROOT, env=cli_env(ECPS_SECRET_KEY=KEY),
                            capture_output=True, text=True, timeout=600, check=False)
    assert verify.returncode == 0, verify.stdout[-2000:] + verify.stderr[-2000:]
    found = json.loads(verify.stdout)
    assert found["intact"] is True
    assert found["verified"] == ACTIVATIONS + BURST * 5
