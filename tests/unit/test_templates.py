"""Message templates: French by default (the leaflet's wording), English shipped, hosts' own refused early."""

from __future__ import annotations

from dataclasses import replace

import pytest

from adapters.memory import MemoryMailer, MemorySms, MemoryStore, StaticDirectory
from tests.conftest import NID, Driver, fast_settings, people
from workflow import ActivationService, InvalidInput, State, messages
from workflow.messages import QR_CONTENT_ID
from workflow.templates import ENGLISH, FRENCH, TEMPLATES, EmailTemplate, Templates
from workflow.testing import code_from, payload_from

PAYLOAD = "ecps://activation?a=abcDEF123456ghij&t=" + "T" * 43


def service(templates: Templates | None = None, **settings: object) -> tuple[ActivationService, Driver]:
    """A memory service with `templates`."""
    mailer, sms = MemoryMailer(), MemorySms()
    svc = ActivationService(store=MemoryStore(), mailer=mailer, sms=sms,
                            directory=StaticDirectory(people()), settings=fast_settings(**settings),
                            templates=templates)
    return svc, Driver(svc, mailer, sms)


@pytest.mark.parametrize("name", ["Dr Jane Doe", "", "O'Brien <b>&"])
def test_workflow_messages_builds_the_french_default(name: str) -> None:
    """workflow.messages' builders say what FRENCH says (one wording, the leaflet's)."""
    ours = FRENCH.activation_email("jane.doe@domain.fr", name, PAYLOAD, 60)
    theirs = messages.activation_email("jane.doe@domain.fr", name, PAYLOAD, 60)
    assert (ours.subject, ours.text, ours.html, ours.attachments) == (
        theirs.subject, theirs.text, theirs.html, theirs.attachments)
    assert "Ce QR Code est valable 60 minutes et ne sert qu'une fois." in theirs.text
    notice, old = FRENCH.replacement_notice("x@y.fr", name), messages.replacement_notice("x@y.fr", name)
    assert (notice.subject, notice.text, notice.html) == (old.subject, old.text, old.html)
    assert "L'e-CPS précédente a été révoquée" in old.text
    assert messages.sms_code_text("482193", 5) == (
        "e-CPS : votre code de validation est 482193. Il expire dans 5 min.")
    assert TEMPLATES["fr"] is FRENCH


@pytest.mark.parametrize(("templates", "one", "two"), [
    (FRENCH, "valable 1 minute et", "valable 2 minutes et"),
    (ENGLISH, "valid for 1 minute and", "valid for 2 minutes and"),
])
def test_a_validity_of_one_minute_is_singular(templates: Templates, one: str, two: str) -> None:
    """${validity} agrees with its number, in the text and the HTML."""
    single = templates.activation_email("a@b.fr", "Jo", PAYLOAD, 1)
    double = templates.activation_email("a@b.fr", "Jo", PAYLOAD, 2)
    assert one in single.text
    assert one in single.html
    assert "1 minutes" not in single.text + single.html
    assert two in double.text
    assert two in double.html


def test_minute_words_are_the_templates_own() -> None:
    """A variant spells the validity with its own words; words that are not two are refused."""
    german = replace(ENGLISH, activation=replace(ENGLISH.activation, text=(
        "${greeting} ${link} gilt ${validity}.")), minute_words=("Minute", "Minuten"))
    assert "gilt 1 Minute." in german.activation_email("a@b.fr", "", PAYLOAD, 1).text
    assert "gilt 30 Minuten." in german.activation_email("a@b.fr", "", PAYLOAD, 30).text
    assert german.sms_text("123456", 1) == "e-CPS: your verification code is 123456. It expires in 1 min."
    words: object
    for words in [("minute",), ("", "minutes"), ("min\nute", "minutes"), ["minute", "minutes"]]:
        with pytest.raises(ValueError, match="minute_words must be two words"):
            replace(ENGLISH, minute_words=words)  # type: ignore[arg-type]


def test_a_service_without_templates_sends_french() -> None:
    """The default service's e-mail and SMS are the French ones."""
    svc, driver = service()
    aid = driver.reach("scanned")
    assert driver.mailer.sent[0].subject == "Activation de votre e-CPS"
    assert driver.sms.sent[0].text.startswith("e-CPS : votre code de validation est")
    assert svc.status(aid).state == State.SCANNED


def test_english_templates_reach_the_professional_with_sender_and_link() -> None:
    """With ENGLISH the e-mail and SMS are in English, carry the sender name, link and code."""
    svc, driver = service(ENGLISH)
    aid = driver.reach("scanned")
    mail, text = driver.mailer.sent[0], driver.sms.sent[0]
    assert (mail.subject, mail.sender_name) == ("Activate your e-CPS", "e-CPS")
    assert mail.text.startswith("Hello Dr Jane Doe,\n\nYou asked to activate your e-CPS.")
    assert f'src="cid:{QR_CONTENT_ID}"' in mail.html
    assert 'lang="en"' in mail.html
    assert payload_from(mail) in mail.text
    assert text.text.startswith("e-CPS: your verification code is ")
    svc.verify_sms(aid, code_from(text))
    assert svc.status(aid).state == State.SMS_VERIFIED


def test_values_are_escaped_in_html_only() -> None:
    """A name with markup is escaped in the HTML part and verbatim in the text part."""
    mail = ENGLISH.activation_email("a@b.fr", "<i>Jo</i> & Co", PAYLOAD, 60)
    assert "Hello <i>Jo</i> & Co," in mail.text
    assert "Hello &lt;i&gt;Jo&lt;/i&gt; &amp; Co," in mail.html
    assert PAYLOAD.replace("&", "&amp;") in mail.html


def test_a_host_variant_keeps_the_rest_of_the_language() -> None:
    """replace() of one field keeps every other text; an empty notice HTML is made of the text."""
    acme = replace(ENGLISH, sender_name="Acme Health",
                   replacement=EmailTemplate("Your ${sender} e-CPS was replaced",
                                             "${greeting}\n\nNew phone.\n"))
    notice = acme.replacement_notice("a@b.fr", "")
    assert (notice.subject, notice.sender_name) == ("Your Acme Health e-CPS was replaced", "Acme Health")
    assert notice.html == '<!doctype html><html lang="en"><body><p>Hello,</p><p>New phone.</p></body></html>'
    assert acme.activation == ENGLISH.activation


@pytest.mark.parametrize(("change", "message"), [
    ({"activation": replace(ENGLISH.activation, text="Scan the attached code.")},
     r"activation.text must contain \$\{link\}"),
    ({"activation": replace(ENGLISH.activation, html="<p><a href='${link}'>go</a></p>")},
     r"activation.html must contain \$\{qr_src\}: the QR image"),
    ({"activation": replace(ENGLISH.activation, html="")}, "activation.html must be given"),
    ({"sms": "Welcome to e-CPS"}, r"sms must contain \$\{code\}: the SMS code would be dropped"),
    ({"greeting": "Dear ${title} ${name},"}, r"greeting uses unknown placeholder \$\{title\}"),
    ({"activation": replace(ENGLISH.activation, subject="Your link ${link}")},
     "it would put the secret activation link there"),
    ({"sms": "${code} costs 5$"}, "stray '\\$'"),
    ({"deep_link_base": "https://x.example/ecps?x=1"}, "deep_link_base must be a URI"),
    ({"deep_link_base": "https://acme.example/é"}, "deep_link_base must be a URI of printable ASCII"),
    ({"deep_link_base": "ecps://a\x00b"}, "deep_link_base must be a URI of printable ASCII"),
    ({"sender_name": "Acme\nBcc: x@y"}, "sender_name must be one line"),
])
def test_a_broken_template_is_refused_when_built(change: dict[str, object], message: str) -> None:
    """Dropping the QR, the link or the code, or naming an unknown placeholder, is a ValueError at once."""
    with pytest.raises(ValueError, match=message):
        replace(ENGLISH, **change)  # type: ignore[arg-type]


def test_an_sms_whose_code_is_not_alone_is_refused_when_the_service_is_built() -> None:
    """Another number of the code's length in the SMS is refused by the service's constructor."""
    crowded = replace(ENGLISH, sms="Code ${code}. Help: 123456.")
    with pytest.raises(ValueError, match="only number of 6 digits"):
        service(crowded)
    glued = replace(ENGLISH, sms="Code ${code}9")
    with pytest.raises(ValueError, match="only number"):
        service(glued)
    _, driver = service(crowded, sms_code_digits=8)
    driver.reach("scanned")
    assert code_from(driver.sms.sent[0], 8)


def test_the_deep_link_base_of_the_templates_is_used_and_accepted() -> None:
    """A host link base goes into the e-mail and scan accepts it; the default base is refused."""
    svc, driver = service(replace(ENGLISH, deep_link_base="https://acme.example/ecps/activate"))
    aid = svc.request(NID).activation_id
    svc.dispatch()
    payload = payload_from(driver.mailer.sent[0])
    assert payload.startswith("https://acme.example/ecps/activate?a=")
    with pytest.raises(InvalidInput):
        svc.scan(aid, "ecps://activation?" + payload.split("?", 1)[1])
    svc.scan(aid, payload)
    assert svc.status(aid).state == State.SCANNED


def test_the_service_refuses_templates_of_the_wrong_type() -> None:
    """Passing something else than Templates is a TypeError."""
    with pytest.raises(TypeError, match="Templates"):
        service({"sms": "x"})  # type: ignore[arg-type]


def test_every_shipped_language_passes_the_service_checks() -> None:
    """Each shipped template set builds a service for every allowed SMS code length."""
    for templates in TEMPLATES.values():
        for digits in (6, 7, 8):
            _, driver = service(templates, sms_code_digits=digits)
            driver.reach("scanned")
            assert code_from(driver.sms.sent[0], digits)


def test_a_validity_under_a_minute_is_never_stated_as_0_min() -> None:
    """30 s of SMS code and 90 s of QR token: the messages say 1 minute, not 0 (whole minutes)."""
    from datetime import timedelta

    from adapters.memory import MemoryMailer, MemorySms, MemoryStore, StaticDirectory
    from tests.conftest import NID, fast_settings, people
    from workflow import ActivationService
    from workflow.templates import minutes_of
    from workflow.testing import FakeClock, payload_from

    assert [minutes_of(timedelta(seconds=s)) for s in (1, 59, 60, 90, 600)] == [1, 1, 1, 1, 10]
    mailer, sms = MemoryMailer(), MemorySms()
    svc = ActivationService(store=MemoryStore(), mailer=mailer, sms=sms,
                            directory=StaticDirectory(people()), clock=FakeClock(),
                            settings=fast_settings(sms_code_validity=timedelta(seconds=30),
                                                   qr_token_validity=timedelta(seconds=90)))
    aid = svc.request(NID).activation_id
    svc.dispatch()
    assert "valable 1 minute" in mailer.sent[-1].text
    svc.scan(aid, payload_from(mailer.sent[-1]))
    svc.dispatch()
    assert "Il expire dans 1 min." in sms.sent[-1].text
