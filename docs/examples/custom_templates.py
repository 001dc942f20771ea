"""Send your own texts: start from a shipped language and override what you need.

Templates use `${placeholder}`; the activation e-mail must keep `${link}` (text) and
`${qr_src}` and `${link}` (HTML), the SMS `${code}`. A template that would drop them, or names
an unknown placeholder, is refused when built. Run: python3 docs/examples/custom_templates.py
"""

from __future__ import annotations

import os
from dataclasses import replace

from adapters.memory import MemoryMailer, MemorySms, MemoryStore, StaticDirectory
from workflow import ActivationService, Settings
from workflow.messages import DirectoryEntry
from workflow.templates import ENGLISH, FRENCH, EmailTemplate

SERVER_KEY = os.environ.get("ECPS_SECRET_KEY", "dev-only-key-never-in-production")

acme = replace(
    ENGLISH,                                        # or FRENCH, the default
    sender_name="Acme Health",
    deep_link_base="https://acme.example/ecps/activate",  # your app's universal link
    activation=EmailTemplate(
        subject="Activate your e-CPS with ${sender}",
        text="${greeting}\n\nScan the attached QR code in the e-CPS app, or open ${link} "
             "on your phone. It is valid for ${validity}.\n",
        html="<p>${greeting}</p><p><img src=\"${qr_src}\" alt=\"QR code\"></p>"
             "<p><a href=\"${link}\">Open the e-CPS app</a> (valid ${validity})</p>",
    ),
    sms="${sender}: your e-CPS code is ${code}",
)

mailer = MemoryMailer()
service = ActivationService(
    store=MemoryStore(), mailer=mailer, sms=MemorySms(),
    directory=StaticDirectory([
        DirectoryEntry("899700366240", "jane.doe@domain.fr", "0612345678", "Dr Jane Doe"),
    ]),
    settings=Settings(secret_key=SERVER_KEY),
    templates=acme,
)
service.request("899700366240")
service.dispatch()
mail = mailer.sent[-1]
print(mail.sender_name, "|", mail.subject)
print(mail.text)
assert mail.subject == "Activate your e-CPS with Acme Health"
assert "https://acme.example/ecps/activate?a=" in mail.text
assert mail.attachments[0].content_type == "image/png"  # the QR code is always attached

# Mistakes are caught when the templates are built, not when the first e-mail leaves:
for broken in ({"sms": "Your code is on its way"},
               {"activation": replace(acme.activation, html="<p>${greeting}</p>")}):
    try:
        replace(FRENCH, **broken)
    except ValueError as refused:
        print("refused:", refused)
    else:
        raise AssertionError("a template without its code or QR image was accepted")
