"""Salesforce-looking record ids: 3-char key prefix + 12 chars + 3-char case-safe checksum suffix."""
from __future__ import annotations

import re

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$")


def suffix(id15: str) -> str:
    out = ""
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5:chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out += _SUFFIX[bits]
    return out


def make_id(prefix: str, counter: int, pod: str = "8c0") -> str:
    n, digits = counter, ""
    for _ in range(9):
        n, r = divmod(n, 62)
        digits = _B62[r] + digits
    id15 = prefix + pod + digits
    return id15 + suffix(id15)


def to18(value: str) -> str | None:
    """Normalise a 15/18-char id to 18 chars; None when malformed (bad length/chars/checksum)."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        return None
    if len(value) == 15:
        return value + suffix(value)
    return value if suffix(value[:15]).lower() == value[15:].lower() else None
