"""The store's clock (controllable by tests) and WordPress date formatting.

Times are integer UTC epoch seconds (WordPress stores one-second resolution). ``offset_s`` skews
the store clock against the host (clock-skew tests); ``freeze(ts)`` pins it.
"""
from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

_FMT = "%Y-%m-%dT%H:%M:%S"


class Clock:
    def __init__(self, offset_s: float = 0.0) -> None:
        self.offset_s = offset_s
        self.frozen_at: int | None = None

    def now(self) -> int:
        if self.frozen_at is not None:
            return self.frozen_at
        return int(time.time() + self.offset_s)

    def freeze(self, ts: int | None = None) -> None:
        self.frozen_at = self.now() if ts is None else int(ts)

    def unfreeze(self) -> None:
        self.frozen_at = None

    def advance(self, seconds: float) -> None:
        if self.frozen_at is not None:
            self.frozen_at += int(seconds)
        else:
            self.offset_s += seconds


class StoreTime:
    """Formats epochs as WooCommerce does: local ``date_*`` and UTC ``*_gmt``, no suffix."""

    def __init__(self, tz_name: str = "America/Los_Angeles") -> None:
        self.tz_name = tz_name
        self.tz = ZoneInfo(tz_name)

    def local(self, ts: int | None) -> str | None:
        if ts is None:
            return None
        return datetime.fromtimestamp(ts, self.tz).strftime(_FMT)

    def gmt(self, ts: int | None) -> str | None:
        if ts is None:
            return None
        return time.strftime(_FMT, time.gmtime(ts))

    def local_naive_to_epoch(self, naive: datetime) -> int:
        return int(naive.replace(tzinfo=self.tz).timestamp())

    def to_local_naive(self, aware: datetime) -> datetime:
        return aware.astimezone(self.tz).replace(tzinfo=None)


# rest_parse_date(): the REST API's accepted date-time forms
_REST_DATE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)


def parse_rest_date(value: str) -> tuple[datetime, bool] | None:
    """Return (naive datetime, has_timezone) with the zone applied as UTC when present, or None."""
    m = _REST_DATE.match(value.strip())
    if not m:
        return None
    y, mo, d, h, mi, s, tz = m.groups()
    try:
        naive = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s))
    except ValueError:
        return None
    if not tz:
        return naive, False
    if tz in ("Z", "z"):
        offset = timedelta(0)
    else:
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        offset = sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    return datetime(naive.year, naive.month, naive.day, naive.hour, naive.minute, naive.second,
                    tzinfo=timezone(offset)), True
