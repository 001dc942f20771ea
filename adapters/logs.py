"""Logging for the server and the commands: a redacting filter, plain or JSON lines.

The code never logs a secret on purpose; `RedactingFilter` is the last line of defence
for what slips through (an exception's message, a library's debug line): it masks e-mail
addresses, phone numbers, runs of 4 or more digits (codes, PINs, identifiers), bearer
tokens, long base64url strings (QR tokens, proofs, keys), the user part of URLs, every
query parameter's value and `pin=`/`code=`/`token=` values, in the message and in the
traceback. Activation ids (16 base32 characters) stay. HTTP clients' request lines
(`httpx`) are logged at `debug` only; Alembic's two lines per database looked at, never
(its upgrades are).

`configure_logging(level, "json")` writes one JSON object a line with `time`, `level`,
`logger`, `message` and, when the record has them, `activation_id`, `event`, `outcome`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Literal, TextIO

LogFormat = Literal["plain", "json"]
MASK = "[redacted]"
_PATTERNS = [
    (re.compile(r"(?i)\b(bearer|dpop)\s+[^\s,;\"']+"), r"\1 " + MASK),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s\"'@]*@"), r"\1" + MASK + "@"),
    (re.compile(r"([?&;][^=&?#\s\"']+=)[^&#\s\"']+"), r"\1" + MASK),
    (re.compile(r"""(?ix)\b(pin|code|token|secret|password|national_id|identifier|nid|otp)
                    (["']?\s*[:=]\s*["']?)[^\s"',;}]+"""), r"\1\2" + MASK),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), MASK),
    (re.compile(r"(?<![\w.])(?:\+|00)\d{2}[\s.-]?\d(?:[\s.-]?\d{2}){4}(?![\w.])"), MASK),
    (re.compile(r"(?<![\w.])0\d(?:[\s.-]\d{2}){4}(?![\w.])"), MASK),
    (re.compile(r"eyJ[\w-]*\.[\w-]*(?:\.[\w-]*)?"), MASK),
    (re.compile(r"[A-Za-z0-9_-]{32,}"), MASK),
    # runs of digits, but a process id (uvicorn's "process [1234]") and a schema revision
    (re.compile(r"(?<![\w.:-])(?<!process \[)(?<!upgrade )(?<!upgrade \d{4} -> )(?<!upgrade  -> )"
                r"\d{4,}(?![\w.-])"), MASK),
]
_EXTRAS = ("activation_id", "event", "outcome")


def redact(text: str) -> str:
    """`text` with anything that looks like a secret, a contact or an identifier masked."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message and traceback (attach it to handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: log it as it is, still masked
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message), None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name,
            "message": record.getMessage()}
        for name in _EXTRAS:
            if (value := getattr(record, name, None)) not in (None, ""):
                line[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


_INSTALLED: list[logging.Handler] = []
TRACE = 5
"""uvicorn's level below debug (`--log-level trace`): each ASGI message and connection."""


class _MigrationChatter(logging.Filter):
    """Drops the two lines Alembic logs each time it looks at a database ("Context impl ...",
    "Will assume ... DDL"), on every start; the upgrades it runs stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Context impl", "Will assume"))


def announce(handler: logging.Handler, name: str, message: str) -> None:
    """Write `message` through `handler` as an info record of logger `name`, whatever the
    level (a server's banner: one JSON object too when the log is JSON)."""
    handler.handle(logging.LogRecord(name, logging.INFO, __file__, 0, message, None, None))


def configure_logging(level: str | int = "info", fmt: LogFormat = "plain",
                      stream: TextIO | None = None) -> logging.Handler:
    """Send every log record (uvicorn's too) through one redacting handler on `stream`."""
    if fmt not in ("plain", "json"):
        raise ValueError("the log format must be plain or json")
    root = logging.getLogger()
    for old in _INSTALLED:
        root.removeHandler(old)
    _INSTALLED.clear()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    logging.addLevelName(TRACE, "TRACE")  # as uvicorn does, but only once its server is made
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True
    quiet = logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    for name in ("httpx", "httpcore"):  # a request line per call to a gateway: debug only
        logging.getLogger(name).setLevel(quiet)
    migration = logging.getLogger("alembic.runtime.migration")
    if not any(isinstance(f, _MigrationChatter) for f in migration.filters):
        migration.addFilter(_MigrationChatter())
    _INSTALLED.append(handler)
    return handler
