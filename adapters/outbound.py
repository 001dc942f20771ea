"""One POST to an outside service (the event webhook, the SMS gateway, the push service), its
answer read within bounds.

Only the answer's status and headers matter: of its body, at most `ANSWER_LIMIT` bytes are
read, as they come (never decompressed), for at most the client's read timeout in all, and a
body cut short or broken changes nothing. A receiver answering with an endless or trickling
body thus costs neither the dispatcher's memory nor its delivery lease; the connection is kept
for the next message only when the body was read whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from time import monotonic
from typing import Any

import httpx

ANSWER_LIMIT = 64 * 1024  # bytes of an answer's body read at most
_DEFAULT_BUDGET = 10.0  # seconds to read a body, when the client has no read timeout


@dataclass(frozen=True)
class Answer:
    """What a delivery needs of an HTTP answer."""

    status_code: int
    headers: httpx.Headers


def post(client: httpx.Client, url: str, **request: Any) -> Answer:
    """POST to `url` with `client` (`request`: httpx's keyword arguments); its answer's status
    and headers. Raises `httpx.HTTPError` only until they are received."""
    budget = client.timeout.read or _DEFAULT_BUDGET
    with client.stream("POST", url, **request) as response:
        answer = Answer(response.status_code, response.headers)
        start, read = monotonic(), 0
        try:
            for chunk in response.iter_raw():
                read += len(chunk)
                if read > ANSWER_LIMIT or monotonic() - start > budget:
                    break  # the rest is not needed: the connection is closed, not kept
        except (httpx.HTTPError, httpx.StreamError):
            pass  # the status is known; a body cut short (or already read) changes nothing
    return answer
