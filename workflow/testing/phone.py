"""What the professional's phone reads: the payload of an activation e-mail, the code of an SMS."""

from __future__ import annotations

import re

from workflow.messages import Email, Sms

_LINK = re.compile(r"\S+://\S+\?a=[A-Za-z0-9_-]+&t=[A-Za-z0-9_-]+")


def payload_from(email: Email) -> str:
    """The deep link (the QR payload) written in the e-mail's text part."""
    found = _LINK.findall(email.text)
    if len(found) != 1:
        raise AssertionError(f"expected one activation link in the e-mail, found {len(found)}")
    return str(found[0])


def code_from(sms: Sms, digits: int = 6) -> str:
    """The code of an SMS: the only number of `digits` digits in its text."""
    found = re.findall(rf"(?<!\d)\d{{{digits}}}(?!\d)", sms.text)
    if len(found) != 1:
        raise AssertionError(f"expected one {digits}-digit code in the SMS, found {len(found)}")
    return str(found[0])
