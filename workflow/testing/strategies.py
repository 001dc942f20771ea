"""Hypothesis strategies for the workflow's inputs: identifiers, PINs, SMS codes, payloads."""

from __future__ import annotations

from hypothesis import strategies as st

from workflow.security import luhn_ok
from workflow.testing.pins import accepted


def _with_luhn_key(rpps10: str) -> str:
    key = next(d for d in "0123456789" if luhn_ok(rpps10 + d))
    return "8" + rpps10 + key


def identifiers() -> st.SearchStrategy[str]:
    """Well-formed identifiants nationaux: 8 + an 11-digit RPPS with a right Luhn key."""
    return st.text("0123456789", min_size=10, max_size=10).map(_with_luhn_key)


def bad_identifiers() -> st.SearchStrategy[object]:
    """Inputs that are not identifiers: wrong length, wrong key, non-ASCII digits, blanks, types."""
    good = identifiers()
    return st.one_of(
        st.text("0123456789", max_size=11),
        st.text("0123456789", min_size=13, max_size=40),
        good.map(lambda s: s[:-1] + str((int(s[-1]) + 1) % 10)),
        good.map(lambda s: s.translate(str.maketrans("0123456789", "０１２３４５６７８９"))),
        good.map(lambda s: s.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))),
        good.map(lambda s: f" {s}"), good.map(lambda s: f"{s}\n"), good.map(lambda s: s[:6] + " " + s[6:]),
        good.map(lambda s: s[:6] + "\x00" + s[6:]),
        st.none(), st.integers(), st.binary(max_size=12),
    )


def pins(length: int = 4) -> st.SearchStrategy[str]:
    """PINs the policy accepts."""
    return st.text("0123456789", min_size=length, max_size=length).filter(accepted)


def weak_pins(length: int = 4) -> st.SearchStrategy[str]:
    """Well-formed PINs the policy refuses (same digit, runs, common ones)."""
    same = st.sampled_from("0123456789").map(lambda d: d * length)
    runs = st.integers(0, 9 - length + 1).map(lambda i: "".join(str(i + k) for k in range(length)))
    return st.one_of(same, runs, runs.map(lambda s: s[::-1]))


def malformed_digits(length: int) -> st.SearchStrategy[object]:
    """Inputs that are not `length` ASCII digits: other lengths, letters, full-width, blanks, types."""
    digits = st.text("0123456789", min_size=length, max_size=length)
    return st.one_of(
        st.text("0123456789", max_size=length - 1),
        st.text("0123456789", min_size=length + 1, max_size=length + 3),
        digits.map(lambda s: "a" + s[1:]),
        digits.map(lambda s: s.translate(str.maketrans("0123456789", "０１２３４５６７８９"))),
        digits.map(lambda s: f" {s[1:]}"),
        st.none(), st.integers(0, 10**length),
    )


def sms_codes(digits: int = 6) -> st.SearchStrategy[str]:
    """Well-formed SMS codes."""
    return st.text("0123456789", min_size=digits, max_size=digits)
