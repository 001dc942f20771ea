"""Who may call what: device proofs (DPoP-shaped, RFC 9449), the operator's bearer token, rate limits.

Every app call on an activation carries a `DPoP` header: a JWS signed with the key the app
gave at `POST /activations` (`adapters.device.DeviceKey.proof` makes one). It is refused
with 401, before the workflow sees the call, when it is missing, malformed, badly signed,
for another method, path or activation, signed by another key than the activation's, with
an `iat` outside the window, or with a `jti` already seen. The scheme and host of `htu` are
not compared (a TLS proxy may rewrite them); its path is, and the activation id is unique.

Operator routes take `Authorization: Bearer <token>`; only the token's SHA-256 is kept and
compared in constant time. 401 without a token (or on a server with none configured), 403
with a wrong one, 429 to an address past its wrong tokens (`adapters.api.guesses`).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import math
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import Path, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, OKPKey

from adapters.api.address_rate import MemoryRequestRate, RateExceeded, RequestRate, counted
from adapters.api.guesses import GuessCounter, Guesses
from adapters.api.lanes import Lane
from adapters.api.replay import ReplayStore
from adapters.api.settings import HttpSettings, token_digest
from adapters.device import ACTIVATION_CLAIM, PROOF_TYPE
from workflow import ActivationService
from workflow.device import thumbprint
from workflow.errors import InvalidInput

warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)

_ALGORITHMS = {"ES256": "EC", "EdDSA": "OKP", "Ed25519": "OKP"}
_MAX_PROOF = 4096
_KEPT_THUMBPRINTS = 100_000  # activations whose thumbprint is kept in memory at most

PROOF_HEADER = APIKeyHeader(
    name="DPoP", scheme_name="DeviceProof", auto_error=False,
    description="A proof of possession of the device key given at `POST /activations` "
                "(RFC 9449 shape: `typ: dpop+jwt`, `alg` ES256 or Ed25519, `jwk`; claims `htm`, "
                "`htu`, `iat`, `jti`, `activation_id`), fresh for every call.")
BEARER = HTTPBearer(scheme_name="Operator", auto_error=False,
                    description="The operator token configured on the server.")
IdPath = Annotated[str, Path(min_length=1, max_length=128, description="the activation id")]
Proof = Annotated[str | None, Security(PROOF_HEADER)]
Bearer = Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]
Caller = Literal["device", "operator"]


def caller_of(request: Request) -> Caller:
    """Who `device_or_operator` let through: the operator when `Authorization` was given."""
    return "operator" if "authorization" in request.headers else "device"


class AccessRefused(Exception):
    """The caller may not make this call: answered with `status` before anything happens."""

    def __init__(self, status: int, kind: str, message: str, **headers: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.headers = status, kind, message, headers


def _bad_proof(message: str) -> AccessRefused:
    return AccessRefused(401, "invalid_proof", message,
                         **{"WWW-Authenticate": 'DPoP error="invalid_dpop_proof", '
                                                'algs="ES256 Ed25519 EdDSA"'})


def verify_proof(token: str, method: str, path: str, activation_id: str | None, now: float,
                 window: int) -> tuple[str, str, float, object]:
    """(thumbprint, jti, iat, the activation it claims) of a valid proof for this call, else
    `AccessRefused` (401); `activation_id=None`: its claim is left to the caller to check."""
    if len(token) > _MAX_PROOF:
        raise _bad_proof("the DPoP proof is too long")
    try:
        parsed = jws.extract_compact(token.encode("ascii"))
        header = parsed.headers()
    except (JoseError, ValueError, TypeError) as exc:
        raise _bad_proof("the DPoP proof is not a compact JWS") from exc
    alg, jwk = header.get("alg"), header.get("jwk")
    if header.get("typ") != PROOF_TYPE:
        raise _bad_proof(f"the DPoP proof's typ must be {PROOF_TYPE}")
    if alg not in _ALGORITHMS or not isinstance(jwk, dict) or jwk.get("kty") != _ALGORITHMS[alg]:
        raise _bad_proof("the DPoP proof must be signed with ES256 (P-256) or Ed25519 and carry "
                         "the matching public jwk")
    try:
        print_ = thumbprint(jwk)
        key = _public_key(print_, json.dumps(jwk, sort_keys=True))
        signed = jws.validate_compact(parsed, key, algorithms=[alg])
    except InvalidInput as exc:
        raise _bad_proof("the DPoP proof's jwk is not a public P-256 or Ed25519 key") from exc
    except (JoseError, ValueError, TypeError) as exc:
        raise _bad_proof("the DPoP proof's signature does not verify") from exc
    if not signed:
        raise _bad_proof("the DPoP proof's signature does not verify")
    try:
        claims: Any = json.loads(parsed.payload)
    except ValueError as exc:
        raise _bad_proof("the DPoP proof's payload is not JSON") from exc
    if not isinstance(claims, dict):
        raise _bad_proof("the DPoP proof's payload is not a JSON object")
    htu, iat, jti = claims.get("htu"), claims.get("iat"), claims.get("jti")
    if claims.get("htm") != method or not isinstance(htu, str) or _path(htu) != path:
        raise _bad_proof(f"the DPoP proof is not for {method} {path} (htm, htu)")
    claim = claims.get(ACTIVATION_CLAIM)
    if activation_id is not None and claim != activation_id:
        raise _bad_proof(f"the DPoP proof is not for this activation ({ACTIVATION_CLAIM})")
    if not isinstance(jti, str) or not 1 <= len(jti) <= 128:
        raise _bad_proof("the DPoP proof needs a jti of 1-128 characters")
    if isinstance(iat, bool) or not isinstance(iat, int | float) or not _finite(iat) \
            or abs(now - iat) > window:
        raise _bad_proof(f"the DPoP proof is stale: its iat is more than {window} s from the "
                         "server's time (make a fresh proof; check the device clock)")
    return print_, jti, float(iat), claim


def _path(url: str) -> str | None:
    """The path of `url`; None if it cannot be parsed (e.g. an unclosed IPv6 host)."""
    try:
        return urlsplit(url).path
    except ValueError:
        return None


def _finite(number: int | float) -> bool:
    """Whether `number` is a finite float, or an integer a float can hold (JSON allows any)."""
    return math.isfinite(number) if isinstance(number, float) else abs(number) < 2**53


@functools.lru_cache(maxsize=4096)
def _public_key(print_: str, jwk: str) -> ECKey | OKPKey:
    """The imported key of a JWK (kept: a device signs every call of its flow with one key)."""
    del print_  # part of the cache key only
    members = json.loads(jwk)
    return ECKey.import_key(members) if members["kty"] == "EC" else OKPKey.import_key(members)


_ANOTHER_KEY = "the DPoP proof is signed by another key than this activation's"


class Guard:
    """The checks the routes depend on, over one service, its settings and its proof memory."""

    def __init__(self, service: ActivationService, settings: HttpSettings,
                 replay: ReplayStore, guesses: GuessCounter | None = None,
                 rates: RequestRate | None = None, lane: Lane | None = None) -> None:
        self.service = service
        self.lane = lane if lane is not None else Lane()  # where the checks read the database
        self.settings = settings
        self.replay = replay
        self._bound_lock = threading.Lock()
        self.rates: RequestRate = rates if rates is not None else MemoryRequestRate(
            settings.request_rate, settings.request_period)
        self._bound: dict[str, str] = {}  # activation id -> device thumbprint, oldest first
        # wrong operator tokens, shared with the console's sign-in
        self.guesses: GuessCounter = guesses if guesses is not None else Guesses()

    async def device(self, request: Request, activation_id: IdPath, proof: Proof = None) -> None:
        """Refuse (401) a call without a valid proof of the activation's device key."""
        await self.lane.run(lambda: self.check_device(request, activation_id, proof))

    def check_device(self, request: Request, activation_id: str, proof: str | None,
                     known: bool = True, *, vague: bool = False) -> None:
        """`device`, on the calling thread. `vague`: a proof for another activation, by another
        key, or for one with no key is refused with one answer; `known=False` (what the proof
        is for does not exist): any proof is refused with that answer too, so that no answer
        tells a call for something that exists from one for something that does not."""
        if not proof:
            raise _bad_proof("this call needs a DPoP header: a fresh proof signed with the "
                             "device key given when the activation was requested")
        now = self.service.now().timestamp()
        window = self.settings.proof_window
        claimed = activation_id if known and not vague else None
        print_, jti, iat, claim = verify_proof(proof, request.method, request.url.path, claimed,
                                               now, window)
        if not known:
            raise _bad_proof(_ANOTHER_KEY)
        bound = self._thumbprint(activation_id)
        if bound is None:
            return  # the workflow answers 404; there is nothing to protect
        if vague and (claim != activation_id or not bound):
            raise _bad_proof(_ANOTHER_KEY)
        if not bound:
            raise _bad_proof("this activation is not bound to a device key; it cannot be "
                             "continued over HTTP")
        if not hmac.compare_digest(bound, print_):
            raise _bad_proof(_ANOTHER_KEY)
        seen = hashlib.sha256(f"{print_}.{jti}".encode()).hexdigest()
        if not self.replay.first_use(seen, now, iat + window + 1):
            raise _bad_proof("this DPoP proof was already used: make a fresh one for every call")

    def _thumbprint(self, activation_id: str) -> str | None:
        """The activation's device thumbprint ("" unbound, None unknown); kept once read, as it
        never changes after the request."""
        with self._bound_lock:
            known = self._bound.get(activation_id)
        if known is not None:
            return known
        if "\x00" in activation_id:
            return None  # no store can hold it: the workflow refuses it as malformed
        a = self.service.store.get(activation_id)
        if a is None:
            return None
        with self._bound_lock:
            self._bound[activation_id] = a.device_thumbprint
            if len(self._bound) > _KEPT_THUMBPRINTS:
                del self._bound[next(iter(self._bound))]
        return a.device_thumbprint

    async def operator(self, request: Request, credentials: Bearer = None) -> None:
        """Refuse a call without the operator token (401), with a wrong one (403), or from an
        address that gave too many wrong ones lately (429 with Retry-After, whatever the token)."""
        await self.lane.run(lambda: self._operator(request, credentials))

    def _operator(self, request: Request, credentials: HTTPAuthorizationCredentials | None) -> None:
        if not self.settings.has_operator:
            raise AccessRefused(401, "unauthorized", "operator routes are closed: this server has "
                                "no operator token (ECPS_OPERATOR_TOKEN or ECPS_OPERATOR_TOKEN_FILE)",
                                **{"WWW-Authenticate": "Bearer"})
        if credentials is None or not credentials.credentials:
            raise AccessRefused(401, "unauthorized", "this call needs the operator's "
                                "`Authorization: Bearer <token>`", **{"WWW-Authenticate": "Bearer"})
        address = request.client.host if request.client else "-"
        wait = self.guesses.guess(address)  # counted as wrong until it proves right
        if wait:
            raise AccessRefused(429, "too_many_requests", f"too many wrong operator tokens from "
                                f"this address; retry in {wait} s", **{"Retry-After": str(wait)})
        given = token_digest(credentials.credentials)
        if not hmac.compare_digest(given, self.settings.operator_token_sha256):
            raise AccessRefused(403, "forbidden", "this operator token is not the server's",
                                **{"WWW-Authenticate": 'Bearer error="invalid_token"'})
        self.guesses.right(address)

    async def device_or_operator(self, request: Request, activation_id: IdPath, proof: Proof = None,
                                 credentials: Bearer = None) -> Caller:
        """The operator when an `Authorization` header is given, else the activation's device."""
        if caller_of(request) == "operator":
            await self.operator(request, credentials)
            return "operator"
        await self.device(request, activation_id, proof)
        return "device"

    @contextmanager
    def counting(self, request: Request) -> Iterator[None]:
        """The block as one activation request of the caller's address, counted against its
        limit per period (with every other process when `rates` is shared), in the block's own
        write transaction where the rates can; past the limit, refuse (429 with Retry-After)."""
        address = request.client.host if request.client else "-"
        try:
            with counted(self.rates, address, self.service.now().timestamp()):
                yield
        except RateExceeded as exc:
            raise AccessRefused(429, "too_many_requests", f"too many activation requests "
                                f"from this address; retry in {exc.wait} s",
                                **{"Retry-After": str(exc.wait)}) from None
