"""The texts a professional receives, as templates a host service can override.

Placeholders are `${name}` (`$$` is a literal `$`). French (`FRENCH`, the default) and English
(`ENGLISH`) ship; `dataclasses.replace(ENGLISH, sender_name="Acme")` makes a variant. A template
that misses its QR image, link or code, or names an unknown placeholder, is refused when built.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from string import Template

from workflow.messages import QR_CONTENT_ID, Attachment, Email, qr_png
from workflow.settings import Settings, link_base_ok

__all__ = ["ENGLISH", "FRENCH", "TEMPLATES", "EmailTemplate", "Templates"]

_COMMON = frozenset({"sender"})
_ALLOWED: dict[str, frozenset[str]] = {
    "greeting": _COMMON | {"name"},
    "greeting_no_name": _COMMON,
    "activation.subject": _COMMON | {"minutes", "validity"},
    "activation.text": _COMMON | {"greeting", "name", "link", "minutes", "validity"},
    "activation.html": _COMMON | {"greeting", "name", "link", "minutes", "validity", "qr_src"},
    "sms": _COMMON | {"code", "minutes", "validity"},
    "replacement.subject": _COMMON,
    "replacement.text": _COMMON | {"greeting", "name"},
    "replacement.html": _COMMON | {"greeting", "name"},
}
_REQUIRED: dict[str, tuple[tuple[str, str], ...]] = {
    "activation.text": (("link", "the activation link (the QR payload)"),),
    "activation.html": (("qr_src", "the QR image (<img src=\"${qr_src}\">)"),
                        ("link", "the activation link")),
    "sms": (("code", "the SMS code"),),
}
_SECRET_HINT = {"link": "the secret activation link", "code": "the SMS code"}


@dataclass(frozen=True, slots=True)
class EmailTemplate:
    """Subject, plain text and HTML of one e-mail; an empty `html` is made of the text's paragraphs."""

    subject: str
    text: str
    html: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Templates:
    """Every text the engine sends, in one language, checked when built.

    `deep_link_base` ("" for `Settings.deep_link_base`) is the scheme and host of the link
    the QR code encodes; the service makes and accepts links with it. `minute_words` (singular,
    plural) spell `${validity}`: "1 minute", "10 minutes".
    """

    language: str
    sender_name: str
    greeting: str
    greeting_no_name: str
    activation: EmailTemplate
    sms: str
    replacement: EmailTemplate
    qr_filename: str = "qr-activation-e-cps.png"
    deep_link_base: str = ""
    minute_words: tuple[str, str] = ("minute", "minutes")

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ValueError(f"invalid templates {self.language!r}: " + "; ".join(problems))

    def check(self, settings: Settings) -> None:
        """Refuse (ValueError) what only `settings` reveal: an SMS whose code is not alone."""
        digits = settings.sms_code_digits
        sample = "1" * digits
        minutes = minutes_of(settings.sms_code_validity)
        text = self.sms_text(sample, minutes)
        runs = [r for r in re.findall(r"\d+", text) if len(r) == digits]
        if runs != [sample]:
            raise ValueError(
                f"invalid templates {self.language!r}: sms must carry the {digits}-digit code as "
                f"the only number of {digits} digits (the app reads it), got {text!r}"
            )

    def activation_email(self, to: str, name: str, payload: str, valid_minutes: int) -> Email:
        """The e-mail with the QR code of `payload` attached (and inline), and `payload` as a link."""
        values = {"name": name, "greeting": self._greeting(name), "link": payload,
                  "minutes": str(valid_minutes), "validity": self.validity(valid_minutes),
                  "sender": self.sender_name, "qr_src": f"cid:{QR_CONTENT_ID}"}
        png = Attachment(self.qr_filename, "image/png", qr_png(payload), QR_CONTENT_ID)
        return self._email(self.activation, to, values, (png,))

    def sms_text(self, code: str, valid_minutes: int) -> str:
        """The SMS that carries `code`."""
        return _fill(self.sms, {"code": code, "minutes": str(valid_minutes),
                                "validity": self.validity(valid_minutes),
                                "sender": self.sender_name})

    def validity(self, minutes: int) -> str:
        """`minutes` with its word, singular for 1: what `${validity}` says."""
        return f"{minutes} {self.minute_words[0] if minutes == 1 else self.minute_words[1]}"

    def replacement_notice(self, to: str, name: str) -> Email:
        """The notice that a newly activated e-CPS replaced (revoked) the previous one."""
        values = {"name": name, "greeting": self._greeting(name), "sender": self.sender_name}
        return self._email(self.replacement, to, values, ())

    def _greeting(self, name: str) -> str:
        if name:
            return _fill(self.greeting, {"name": name, "sender": self.sender_name})
        return _fill(self.greeting_no_name, {"sender": self.sender_name})

    def _email(self, template: EmailTemplate, to: str, values: Mapping[str, str],
               attachments: tuple[Attachment, ...]) -> Email:
        subject = _fill(template.subject, values)
        text = _fill(template.text, values)
        escaped = {k: html.escape(v, quote=True) for k, v in values.items()}
        if template.html:
            body = _fill(template.html, escaped)
        else:
            body = f"<!doctype html><html lang=\"{html.escape(self.language)}\"><body>" + "".join(
                f"<p>{html.escape(p)}</p>" for p in text.strip().split("\n\n")
            ) + "</body></html>"
        return Email(to, subject, text, body, attachments, sender_name=self.sender_name)


def _fill(template: str, values: Mapping[str, str]) -> str:
    return Template(template).substitute(values)


def minutes_of(span: timedelta) -> int:
    """A validity as the messages state it: whole minutes, at least 1 (never "0 min")."""
    return max(1, int(span.total_seconds() // 60))


def _parts(t: Templates) -> dict[str, object]:
    return {
        "greeting": t.greeting, "greeting_no_name": t.greeting_no_name,
        "activation.subject": t.activation.subject, "activation.text": t.activation.text,
        "activation.html": t.activation.html, "sms": t.sms,
        "replacement.subject": t.replacement.subject, "replacement.text": t.replacement.text,
        "replacement.html": t.replacement.html,
    }


def _problems(t: Templates) -> list[str]:
    problems: list[str] = []
    for name in ("language", "sender_name", "qr_filename", "deep_link_base"):
        value = getattr(t, name)
        if not isinstance(value, str) or any(c in value for c in "\r\n"):
            problems.append(f"{name} must be one line of text")
    words = t.minute_words
    if not (isinstance(words, tuple) and len(words) == 2
            and all(isinstance(w, str) and w.strip() and w.isprintable() for w in words)):
        problems.append("minute_words must be two words of one line: (singular, plural)")
    if not isinstance(t.activation, EmailTemplate) or not isinstance(t.replacement, EmailTemplate):
        problems.append("activation and replacement must be EmailTemplate values")
        return problems
    if not t.activation.html:
        problems.append("activation.html must be given: it shows the QR image")
    if t.deep_link_base and not link_base_ok(t.deep_link_base):
        problems.append("deep_link_base must be a URI of printable ASCII (scheme://host/path) "
                        "without query or fragment")
    for part, text in _parts(t).items():
        problems.extend(_part_problems(part, text))
    return problems


def _part_problems(part: str, text: object) -> list[str]:
    if not isinstance(text, str):
        return [f"{part} must be text, not {type(text).__name__}"]
    template = Template(text)
    if not template.is_valid():
        return [f"{part} has a stray '$' (write $$ for a literal dollar sign)"]
    used = set(template.get_identifiers())
    problems = []
    for unknown in sorted(used - _ALLOWED[part]):
        hint = f" (it would put {_SECRET_HINT[unknown]} there)" if unknown in _SECRET_HINT else ""
        problems.append(f"{part} uses unknown placeholder ${{{unknown}}}{hint}; "
                        f"allowed: {', '.join(sorted(_ALLOWED[part]))}")
    if part == "activation.html" and not text:
        return problems
    for placeholder, what in _REQUIRED.get(part, ()):
        if placeholder not in used:
            problems.append(f"{part} must contain ${{{placeholder}}}: {what} would be dropped")
    return problems


_FR_ACTIVATION_HTML = (
    "<!doctype html><html lang=\"fr\"><body>"
    "<p>${greeting}</p>"
    "<p>Vous avez demandé l'activation de votre e-CPS.</p>"
    "<p>Dans l'application e-CPS, cliquez sur « Continuer » puis scannez ce QR Code :</p>"
    "<p><img src=\"${qr_src}\" alt=\"QR Code d'activation\" width=\"264\"></p>"
    "<p>Vous lisez ce courriel sur le téléphone où l'application est installée ? "
    "<a href=\"${link}\">Activer ma e-CPS</a></p>"
    "<p>Ce QR Code est valable ${validity} et ne sert qu'une fois. "
    "Si vous n'êtes pas à l'origine de cette demande, ignorez ce courriel.</p>"
    "</body></html>"
)

FRENCH = Templates(
    language="fr",
    sender_name="e-CPS",
    greeting="Bonjour ${name},",
    greeting_no_name="Bonjour,",
    activation=EmailTemplate(
        subject="Activation de votre e-CPS",
        text=(
            "${greeting}\n\n"
            "Vous avez demandé l'activation de votre e-CPS.\n\n"
            "Dans l'application e-CPS, cliquez sur « Continuer » puis scannez le QR Code "
            "joint à ce courriel.\n\n"
            "Si vous lisez ce courriel sur le téléphone où l'application e-CPS est installée, "
            "ouvrez ce lien :\n"
            "${link}\n\n"
            "Ce QR Code est valable ${validity} et ne sert qu'une fois.\n"
            "Si vous n'êtes pas à l'origine de cette demande, ignorez ce courriel.\n"
        ),
        html=_FR_ACTIVATION_HTML,
    ),
    sms="e-CPS : votre code de validation est ${code}. Il expire dans ${minutes} min.",
    replacement=EmailTemplate(
        subject="Votre e-CPS a été remplacée",
        text=(
            "${greeting}\n\n"
            "Votre e-CPS vient d'être activée sur un nouveau téléphone. "
            "L'e-CPS précédente a été révoquée et ne permet plus de se connecter.\n\n"
            "Si vous n'êtes pas à l'origine de cette activation, contactez votre service "
            "d'assistance sans attendre.\n"
        ),
    ),
)
"""The default texts, in French, following the wording of the e-CPS activation leaflet."""

_EN_ACTIVATION_HTML = (
    "<!doctype html><html lang=\"en\"><body>"
    "<p>${greeting}</p>"
    "<p>You asked to activate your e-CPS.</p>"
    "<p>In the e-CPS app, tap “Continue”, then scan this QR code:</p>"
    "<p><img src=\"${qr_src}\" alt=\"Activation QR code\" width=\"264\"></p>"
    "<p>Reading this e-mail on the phone where the app is installed? "
    "<a href=\"${link}\">Activate my e-CPS</a></p>"
    "<p>This QR code is valid for ${validity} and works only once. "
    "If you did not ask for this, ignore this e-mail.</p>"
    "</body></html>"
)

ENGLISH = Templates(
    language="en",
    sender_name="e-CPS",
    greeting="Hello ${name},",
    greeting_no_name="Hello,",
    activation=EmailTemplate(
        subject="Activate your e-CPS",
        text=(
            "${greeting}\n\n"
            "You asked to activate your e-CPS.\n\n"
            "In the e-CPS app, tap “Continue”, then scan the QR code attached to this e-mail.\n\n"
            "If you are reading this e-mail on the phone where the e-CPS app is installed, "
            "open this link:\n"
            "${link}\n\n"
            "This QR code is valid for ${validity} and works only once.\n"
            "If you did not ask for this, ignore this e-mail.\n"
        ),
        html=_EN_ACTIVATION_HTML,
    ),
    sms="e-CPS: your verification code is ${code}. It expires in ${minutes} min.",
    replacement=EmailTemplate(
        subject="Your e-CPS has been replaced",
        text=(
            "${greeting}\n\n"
            "Your e-CPS has just been activated on a new phone. "
            "The previous e-CPS has been revoked and can no longer be used to log in.\n\n"
            "If you did not activate it, contact your support desk at once.\n"
        ),
    ),
)
"""The English texts."""

TEMPLATES: Mapping[str, Templates] = {"fr": FRENCH, "en": ENGLISH}
"""The shipped templates by language code."""
