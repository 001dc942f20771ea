"""The demo's file adapters: `.eml` files with the QR PNG beside them, SMS appended to a file and
shown on the console, and the readers the demo's stand-in phone uses."""

from __future__ import annotations

import io
import json
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from adapters.files import (
    FileMailer,
    FileSms,
    code_in,
    decode_qr,
    latest_eml,
    qr_payload,
    read_eml,
    read_sms,
    read_sms_codes,
)
from adapters.memory import MemoryStore, StaticDirectory
from tests.conftest import NID, fast_settings
from workflow import ActivationService, State
from workflow.errors import DeliveryFailed, StorageError
from workflow.messages import DirectoryEntry, Email, Sms
from workflow.templates import FRENCH
from workflow.testing import FakeClock

PAYLOAD = "ecps://activation?a=abcdefgh12&t=" + "Q" * 43


def _email(message_id: str = "0123abcd") -> Email:
    return replace(FRENCH.activation_email("jane.doe@domain.fr", "Dr Jane Doe", PAYLOAD, 60),
                   message_id=message_id)


def test_each_email_is_an_eml_named_by_its_id_with_the_png_beside(tmp_path: Path) -> None:
    """`<id>.eml` and `<id>-<attachment>` appear; the PNG beside it decodes to the payload."""
    FileMailer(tmp_path / "mail").send(_email())
    names = sorted(p.name for p in (tmp_path / "mail").iterdir())
    assert names == ["0123abcd-qr-activation-e-cps.png", "0123abcd.eml"]
    assert decode_qr((tmp_path / "mail" / names[0]).read_bytes()) == [PAYLOAD]


def test_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    """The e-mail holds a live token: its files are mode 0600."""
    FileMailer(tmp_path).send(_email())
    for path in tmp_path.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_retry_overwrites_its_own_file(tmp_path: Path) -> None:
    """The same message id sent twice leaves one `.eml`; another id adds one."""
    mailer = FileMailer(tmp_path)
    mailer.send(_email())
    mailer.send(_email())
    assert len(list(tmp_path.glob("*.eml"))) == 1
    mailer.send(_email("ffff0000"))
    assert len(list(tmp_path.glob("*.eml"))) == 2
    assert not list(tmp_path.glob(".tmp-*"))


def test_the_phone_reads_the_latest_email_and_its_qr(tmp_path: Path) -> None:
    """`latest_eml` finds the newest file; `qr_payload` decodes its QR image."""
    assert latest_eml(tmp_path / "none") is None
    mailer = FileMailer(tmp_path)
    mailer.send(_email("aaaa"))
    older = tmp_path / "aaaa.eml"
    os.utime(older, ns=(1, 1))
    mailer.send(_email("bbbb"))
    newest = latest_eml(tmp_path)
    assert newest == tmp_path / "bbbb.eml"
    message = read_eml(newest)
    assert str(message["Subject"]) == "Activation de votre e-CPS"
    assert qr_payload(message) == PAYLOAD


def test_an_email_without_image_has_no_qr(tmp_path: Path) -> None:
    """A notice without a QR code gives None."""
    FileMailer(tmp_path).send(replace(FRENCH.replacement_notice("a@b.fr", ""), message_id="n1"))
    assert qr_payload(read_eml(tmp_path / "n1.eml")) is None


def test_a_folder_that_cannot_be_written_is_a_transient_failure(tmp_path: Path) -> None:
    """An `OSError` becomes `DeliveryFailed(transient=True)`."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(DeliveryFailed) as caught:
        FileMailer(tmp_path / "file" / "mail").send(_email())
    assert caught.value.transient


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    """When the rename fails (here a folder holds the `.eml` name), the temporary is removed."""
    (tmp_path / "0123abcd.eml").mkdir()
    (tmp_path / "0123abcd.eml" / "x").write_bytes(b"")
    with pytest.raises(DeliveryFailed):
        FileMailer(tmp_path).send(_email())
    assert not list(tmp_path.glob(".tmp-*"))


def test_sms_are_appended_to_the_file_only(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Each SMS is one JSON line; no console shows it, even when asked to (it holds a code)."""
    console = io.StringIO()
    gateway = FileSms(tmp_path / "sms.jsonl", echo=True, stream=console, clock=FakeClock())
    gateway.send(Sms("0639980078", FRENCH.sms_text("493817", 5), "m1"))
    gateway.send(Sms("0639980078", "e-CPS : code 102938, valable 5 min", "m2"))
    lines = (tmp_path / "sms.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["m1", "m2"]
    assert json.loads(lines[0])["at"] == "2026-01-05T09:00:00+00:00"
    assert console.getvalue() == ""
    assert capsys.readouterr() == ("", "")
    assert read_sms_codes(tmp_path / "sms.jsonl") == ["493817", "102938"]
    assert [s.message_id for s in read_sms(tmp_path / "sms.jsonl")] == ["m1", "m2"]


def test_echo_off_prints_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`echo=False` only writes the file."""
    FileSms(tmp_path / "sms.jsonl", echo=False).send(Sms("0639980078", "code 493817", "m"))
    assert capsys.readouterr().out == ""
    assert read_sms_codes(tmp_path / "sms.jsonl") == ["493817"]


def test_reading_a_missing_sms_file_gives_nothing(tmp_path: Path) -> None:
    """No file yet: no SMS."""
    assert read_sms(tmp_path / "none.jsonl") == []


@pytest.mark.parametrize(("text", "digits", "code"), [
    ("votre code est 493817.", 6, "493817"), ("code 4938170 ou 493817", 6, "493817"),
    ("codes 493817 et 102938", 6, None), ("aucun code", 6, None),
    ("code 49381702, 8 chiffres", 8, "49381702"), ("493817\n\n@x.fr #493817", 6, "493817"),
])
def test_code_in_finds_the_one_number_of_its_length(text: str, digits: int, code: str | None) -> None:
    """Only a lone number of exactly that length is a code (repeats of it included)."""
    assert code_in(text, digits) == code


def test_the_demo_files_play_a_whole_activation(tmp_path: Path) -> None:
    """With the file adapters the phone reads the QR from the `.eml` and the code from the SMS file."""
    mail, sms_file = tmp_path / "mail", tmp_path / "sms.jsonl"
    svc = ActivationService(
        store=MemoryStore(), mailer=FileMailer(mail), sms=FileSms(sms_file, echo=False),
        directory=StaticDirectory([DirectoryEntry(NID, "jane.doe@domain.fr", "0639980078", "J")]),
        clock=FakeClock(), settings=fast_settings())
    aid = svc.request(NID).activation_id
    svc.dispatch()
    eml = latest_eml(mail)
    assert eml is not None
    payload = qr_payload(read_eml(eml))
    assert payload is not None
    svc.scan(aid, payload)
    svc.dispatch()
    svc.verify_sms(aid, read_sms_codes(sms_file)[-1])
    svc.set_pin(aid, "4821")
    assert svc.confirm_pin(aid, "4821").state == State.ACTIVE


@pytest.mark.parametrize("content", [b'{"to": "0612", "text": "code 123456"\n', b"\xff\xfe\n",
                                     b"[1, 2]\n", b'{"to": 5, "text": "x"}\n', b"{}\n"])
def test_a_damaged_sms_file_is_a_storage_error_naming_it(tmp_path: Path, content: bytes) -> None:
    """Not JSON, not text, not an SMS object: one `StorageError` naming the file."""
    path = tmp_path / "sms.txt"
    path.write_bytes(content)
    with pytest.raises(StorageError, match="not an SMS file written by ecps"):
        read_sms(path)
