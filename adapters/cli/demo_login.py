"""The demo's last chapter: a portal logs the professional in by push notification."""

from __future__ import annotations

from typing import TYPE_CHECKING

from joserfc import jwt
from joserfc.jwk import ECKey
from rich.text import Text

from adapters.cli.flow import ask_secret
from adapters.push import FilePush

if TYPE_CHECKING:
    from adapters.cli.demo import Demo

PORTAL = {"client_id": "portail-demo", "client_name": "Portail de santé (démonstration)",
          "binding_message": "A7-3F"}


def push_login(d: Demo, aid: str, pin: str) -> None:
    """The portal asks, the push file arrives, the PIN approves, the assertion is verified."""
    svc = d.svc
    nid = d.files["national_id"]
    login = svc.start_login(nid, **PORTAL)
    d.files["login_id"] = login.login_id
    d.say(Text.assemble("   the portal asks to log in; it shows the code ",
                        (PORTAL["binding_message"], "bold cyan")))
    svc.dispatch()
    pushed = [p for p in FilePush(d.state.push).sent if p.login_id == login.login_id]
    d.files["push"] = str(d.state.push)
    shown = pushed[-1] if pushed else None
    d.say(Text.assemble("   push to the phone (", d.path(d.state.push), "): ",
                        (shown.client_name if shown else "?", "bold"), " asks to log in, code ",
                        (shown.binding_message if shown else "?", "bold cyan")))
    typed = ask_secret("   PIN to approve") if d.interactive else pin
    approved = svc.approve_login(login.login_id, typed)
    d.say(Text.assemble("   the professional approves with the PIN: login ",
                        (str(approved.state), "bold green")))
    result = svc.login_result(login.login_id)
    assert result.assertion is not None
    (public,) = svc.jwks()["keys"]
    claims = jwt.decode(result.assertion, ECKey.import_key(public), algorithms=["ES256"]).claims
    d.say(Text.assemble("   the portal polls: ", (str(result.state), "bold green"),
                        "; signed assertion verified against the JWKS (ES256): aud=",
                        (str(claims["aud"]), "bold"), ", amr=", ("+".join(claims["amr"]), "bold")))
    d.files["login_state"] = str(result.state)
