"""Prefixed, typed, time-sortable ids (``st_``, ``evt_``, ``att_`` ...).

26 Crockford-base32 characters after the prefix: 48 bits of milliseconds then 80 random bits,
so ids sort by creation time and never collide in practice.
"""
from __future__ import annotations

import os
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, in ASCII order: ids sort as strings
# two characters per 10 bits: 13 table lookups per id (ids are made for every event, on the hot path)
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]

PREFIXES = {
    "store": "st",
    "event": "evt",
    "attempt": "att",
    "run": "run",
    "job": "job",
    "operator": "op",
    "token": "tok",
}


def new_id(kind: str) -> str:
    prefix = PREFIXES[kind]
    ms = int(time.time() * 1000) & ((1 << 48) - 1)
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    pairs = _PAIRS
    return prefix + "_" + "".join([pairs[(value >> shift) & 1023] for shift in range(120, -1, -10)])


def is_id(kind: str, value: str) -> bool:
    prefix = PREFIXES[kind] + "_"
    body = value[len(prefix):]
    return value.startswith(prefix) and len(body) == 26 and all(c in _ALPHABET for c in body)
