"""Prefixed, typed, time-sortable ids (``st_``, ``evt_``, ``att_`` ...).

26 Crockford-base32 characters after the prefix: 48 bits of milliseconds then 80 random bits,
so ids sort by creation time and never collide in practice.
"""
from __future__ import annotations

import os
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"

PREFIXES = {
    "store": "st",
    "event": "evt",
    "attempt": "att",
    "run": "run",
    "job": "job",
    "operator": "op",
    "token": "tok",
}


def _encode(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_id(kind: str) -> str:
    prefix = PREFIXES[kind]
    ms = int(time.time() * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    return f"{prefix}_{_encode((ms << 80) | rand, 26)}"


def is_id(kind: str, value: str) -> bool:
    prefix = PREFIXES[kind] + "_"
    body = value[len(prefix):]
    return value.startswith(prefix) and len(body) == 26 and all(c in _ALPHABET for c in body)
