"""The stand-in phone of the CLI: reads QR codes from a PNG or an `.eml`, codes from the SMS file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from adapters import files
from workflow import ActivationService
from workflow.domain import MessageKind
from workflow.errors import InvalidInput


def decode_qr(png: bytes) -> str:
    """The text of the one QR code in a PNG image (decoded with zxing-cpp)."""
    try:
        found = files.decode_qr(png)
    except (OSError, Image.DecompressionBombError) as exc:  # PIL: not an image, or too large
        raise InvalidInput("the file is not a readable image", "png") from exc
    if len(found) != 1:
        raise InvalidInput(f"expected one QR code in the image, found {len(found)}", "png")
    return found[0]


def png_file(path: Path) -> bytes:
    """The bytes of an image file to decode (`files.read_capped`)."""
    try:
        return files.read_capped(path)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read {path}: {_why(exc)}", "png") from exc


def _why(exc: OSError | ValueError) -> str:
    return (exc.strerror or type(exc).__name__) if isinstance(exc, OSError) else str(exc)


def payload_from_eml(path: Path) -> str:
    """The activation payload of an `.eml`: its QR code decoded, as the app's camera would."""
    try:
        message = files.read_eml(path)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read {path}: {_why(exc)}", "eml") from exc
    payload = files.qr_payload(message)
    if payload is None:
        raise InvalidInput(f"{path} holds no QR code image", "eml")
    return payload


@dataclass(frozen=True, slots=True)
class ReceivedSms:
    """An SMS as the phone shows it, with the code the app reads in it."""

    text: str
    code: str


def sms_of(service: ActivationService, sms_file: Path, activation_id: str) -> ReceivedSms:
    """The last SMS code sent for `activation_id`, read back from the SMS file."""
    ids = {m.id for m in service.store.outbox_of(activation_id) if m.kind == MessageKind.SMS_CODE}
    digits = service.settings.sms_code_digits
    for sms in reversed(files.read_sms(sms_file)):
        code = files.code_in(sms.text, digits)
        if sms.message_id in ids and code:
            return ReceivedSms(sms.text, code)
    raise InvalidInput(f"no SMS code for this activation in {sms_file}; give the CODE", "code")

