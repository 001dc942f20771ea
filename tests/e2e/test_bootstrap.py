"""`build_service()`: the embedded defaults, the server key made once, the environment's overrides."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from adapters.bootstrap import build_service, mailer_from_url, resolve_database_url
from adapters.directory import FhirDirectory
from adapters.memory import MemoryMailer, MemorySms
from adapters.sms_http import HttpSmsGateway
from adapters.smtp import SmtpMailer
from adapters.sql import SqlStore
from tests.conftest import fast_settings

NID = "899700366240"


def test_the_server_key_is_made_once_owner_only_and_reused(workdir: Path) -> None:
    """Two services on one state folder share the key: the second reads what the first sealed."""
    first = build_service(mailer=MemoryMailer(), sms=MemorySms())
    aid = first.request(NID).activation_id
    key = workdir / ".ecps" / "server.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    made = key.read_text()
    mail = MemoryMailer()
    second = build_service(mailer=mail, sms=MemorySms())
    assert second.dispatch() == 1  # it opens the e-mail the first one sealed in the outbox
    assert mail.sent[0].to == "jane.doe@domain.fr"
    assert second.status(aid).state == "emailed"
    assert key.read_text() == made


def test_the_environment_key_and_database_win(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ECPS_SECRET_KEY replaces the key file and ECPS_DATABASE_URL the state folder's SQLite."""
    url = f"sqlite:///{workdir / 'elsewhere.sqlite3'}"
    monkeypatch.setenv("ECPS_SECRET_KEY", "from-the-environment-" + "e" * 16)
    monkeypatch.setenv("ECPS_DATABASE_URL", url)
    svc = build_service(mailer=MemoryMailer(), sms=MemorySms())
    assert svc.settings.key == b"from-the-environment-" + b"e" * 16
    assert not (workdir / ".ecps" / "server.key").exists()
    assert isinstance(svc.store, SqlStore)
    assert resolve_database_url() == url
    svc.request(NID)
    assert (workdir / "elsewhere.sqlite3").is_file()


def test_settings_variables_apply_and_explicit_settings_win(workdir: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """ECPS_PIN_LENGTH changes the default settings; settings given whole are used as they are."""
    monkeypatch.setenv("ECPS_PIN_LENGTH", "6")
    assert build_service(mailer=MemoryMailer(), sms=MemorySms()).settings.pin_length == 6
    given = fast_settings(pin_length=8)
    svc = build_service(mailer=MemoryMailer(), sms=MemorySms(), settings=given,
                        state_dir=workdir / "other")
    assert svc.settings == given
    svc.request(NID)
    assert (workdir / "other" / "ecps.sqlite3").is_file()


@pytest.mark.parametrize(("url", "expected"), [
    ("smtp://relay.local", ("relay.local", 25, "none", None)),
    ("smtp+starttls://app%40corp:s%3Dcret@mail.corp:2525", ("mail.corp", 2525, "starttls", "app@corp")),
    ("smtps://app:pw@mail.corp", ("mail.corp", 465, "tls", "app")),
])
def test_an_smtp_url_picks_host_port_security_and_login(url: str,
                                                        expected: tuple[object, ...]) -> None:
    """ECPS_SMTP_URL's scheme sets the security and default port; the login is URL-decoded."""
    mailer = mailer_from_url(url)
    assert isinstance(mailer, SmtpMailer)
    assert (mailer.host, mailer.port, mailer.security, mailer.username) == expected


def test_the_environment_names_real_adapters(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ECPS_SMTP_URL, ECPS_SMS_URL and an http(s) ECPS_DIRECTORY replace the embedded adapters."""
    monkeypatch.setenv("ECPS_SMTP_URL", "smtp://127.0.0.1:2525")
    monkeypatch.setenv("ECPS_SMS_URL", "http://127.0.0.1:9/sms")
    monkeypatch.setenv("ECPS_SMS_TOKEN", "t0ken")
    monkeypatch.setenv("ECPS_DIRECTORY", "http://127.0.0.1:9/fhir")
    svc = build_service()
    assert isinstance(svc.dispatcher.mailer, SmtpMailer)
    assert isinstance(svc.dispatcher.sms, HttpSmsGateway)
    assert isinstance(svc.directory, FhirDirectory)
    with pytest.raises(ValueError, match="ECPS_SMTP_URL"):
        mailer_from_url("http://not-smtp")
