"""The shipped processes feed the webhook the environment names (`ECPS_WEBHOOK_URL` and its secret)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.bootstrap import build_service, webhook_from_env
from adapters.memory import MemoryMailer, MemorySink, MemorySms, MemoryStore, StaticDirectory
from adapters.webhook import WebhookSink
from tests.conftest import fast_settings, people
from tests.e2e.conftest import ROOT, cli_env
from tests.integration.webhook_receiver import Receiver
from workflow import ActivationService
from workflow.config import ConfigError
from workflow.domain import Answer, Change, MessageKind
from workflow.events import from_audit
from workflow.testing import FakeClock

SECRET = "whsec-wiring-" + "w" * 24
KEY = "wiring-server-key-" + "k" * 24
NID = "899700366240"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A started receiver that accepts every signed event."""
    r = Receiver(SECRET).start()
    yield r
    r.stop()


def _ecps(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "adapters.cli", *args], cwd=ROOT, env=cli_env(**env),
                          capture_output=True, text=True, timeout=60, check=False)


def test_no_url_means_no_webhook_and_a_url_without_secret_is_refused_without_echo() -> None:
    """Unset: None. A URL alone, or a short secret: a configuration error that shows no value."""
    assert webhook_from_env({}) is None
    with pytest.raises(ConfigError, match="ECPS_WEBHOOK_SECRET") as missing:
        webhook_from_env({"ECPS_WEBHOOK_URL": "https://hooks.example.org/ecps?token=abc123"})
    assert "abc123" not in str(missing.value)
    with pytest.raises(ConfigError, match="at least") as short:
        webhook_from_env({"ECPS_WEBHOOK_URL": "https://hooks.example.org/e",
                          "ECPS_WEBHOOK_SECRET": "tiny-s3cret"})
    assert "tiny-s3cret" not in str(short.value)


def test_the_secret_may_come_from_a_file(tmp_path: Path) -> None:
    """ECPS_WEBHOOK_SECRET_FILE gives the secret; the sink posts to the URL."""
    (tmp_path / "hook.secret").write_text(SECRET + "\n")
    sink = webhook_from_env({"ECPS_WEBHOOK_URL": "https://hooks.example.org/e",
                             "ECPS_WEBHOOK_SECRET_FILE": str(tmp_path / "hook.secret")})
    assert isinstance(sink, WebhookSink)
    assert sink.url == "https://hooks.example.org/e"
    sink.close()


def test_ecps_dispatch_delivers_the_event_feed_to_the_configured_webhook(
        receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A request made by a service `build_service` wired, then `ecps dispatch`: the receiver gets
    each event of the trail once, signed, in order."""
    env = {"ECPS_WEBHOOK_URL": receiver.url, "ECPS_WEBHOOK_SECRET": SECRET, "ECPS_SECRET_KEY": KEY}
    for name, value in {**env, "ECPS_ARGON2_MEMORY_KIB": "64", "ECPS_ARGON2_TIME_COST": "1"}.items():
        monkeypatch.setenv(name, value)
    url = f"sqlite:///{tmp_path / 'ecps.db'}"
    svc = build_service(url, state_dir=tmp_path, mailer=MemoryMailer(), sms=MemorySms())
    assert isinstance(svc.sink, WebhookSink)
    aid = svc.request(NID, device_id="phone-1").activation_id
    done = _ecps("dispatch", "--json", "--database", url, "--state-dir", str(tmp_path), env=env)
    assert done.returncode == 0, done.stderr
    assert "no sink" not in done.stderr
    trail = [e for e in map(from_audit, svc.store.audit_trail(aid)) if e is not None]
    assert [e.action for e in trail] == ["request", "email_sent"]
    assert list(receiver.processed.values()) == trail
    assert all(hit.signed for hit in receiver.hits)
    assert len(receiver.hits) == len(trail)
    assert SECRET not in done.stdout + done.stderr
    again = _ecps("dispatch", "--database", url, "--state-dir", str(tmp_path), env=env)
    assert "sent 0 message(s)" in again.stdout
    assert f"events to WebhookSink({receiver.url})" in " ".join(again.stdout.split())


def test_config_show_names_the_webhook_and_masks_its_secret(receiver: Receiver, tmp_path: Path) -> None:
    """The URL shows without its query; the secret shows only as its length."""
    env = {"ECPS_WEBHOOK_URL": receiver.url + "?token=q-s3cret", "ECPS_WEBHOOK_SECRET": SECRET,
           "ECPS_SECRET_KEY": KEY}
    done = _ecps("config", "show", "--json", "--state-dir", str(tmp_path), env=env)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["webhook_url"] == receiver.url
    assert shown["webhook_secret"] == f"<redacted, {len(SECRET)} bytes>"
    assert SECRET not in done.stdout
    assert "q-s3cret" not in done.stdout


class _Recording(MemoryStore):
    """A memory store that keeps every change committed to it."""

    def __init__(self) -> None:
        super().__init__()
        self.changes: list[Change] = []

    def commit(self, change: Change) -> None:
        super().commit(change)
        self.changes.append(change)


def test_with_a_sink_a_request_still_takes_its_turn_and_keeps_its_answer() -> None:
    """The feed's rows are added to a change without dropping its turn or its idempotency answer."""
    store, mailer, sms = _Recording(), MemoryMailer(), MemorySms()
    svc = ActivationService(store=store, mailer=mailer, sms=sms, directory=StaticDirectory(people()),
                            clock=FakeClock(), settings=fast_settings(), sink=MemorySink())
    answer = Answer("key-1", "f" * 64, 201, b"{}", "{}", 0.0)
    with svc.answering(lambda _: answer):
        svc.request(NID)
    (change,) = store.changes
    assert [t.subject for t in change.turns] == [svc.keys.pseudonym(NID)]
    assert change.answer == answer
    assert any(m.kind == MessageKind.DOMAIN_EVENT for m in change.outbox)
