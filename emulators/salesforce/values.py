"""Field value coercion (JSON body -> stored value) and datetime formatting, the way the REST API does it."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime

from .errors import ApiError
from .schema import NUMBER_TYPES, Field

_DT_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(Z|[+-]\d{2}:\d{2}|[+-]\d{4})?$"
)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def fmt_dt(dt: datetime) -> str:
    """Salesforce REST datetime: 2026-01-02T03:04:05.000+0000 (UTC, milliseconds)."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


def parse_dt(text: str, *, strict_body: bool = False) -> datetime | None:
    """Parse an ISO datetime. ``strict_body`` mimics the REST JSON parser, which rejects a ``+0000``
    offset without milliseconds (a captured real failure)."""
    m = _DT_RE.match(text or "")
    if not m:
        return None
    y, mo, d, h, mi, s, frac, tz = m.groups()
    if strict_body and tz and ":" not in tz and tz != "Z" and frac is None:
        return None
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro, tzinfo=UTC)
    except ValueError:
        return None
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 60 + int(digits[2:]))
        dt = dt.replace(tzinfo=None)
        from datetime import timedelta
        dt = (dt - timedelta(minutes=offset)).replace(tzinfo=UTC)
    return dt


def parse_date(text: str) -> date | None:
    if not isinstance(text, str) or not _DATE_RE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _json_kind(value) -> str:
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, (int, float)):
        return "VALUE_NUMBER_INT" if isinstance(value, int) else "VALUE_NUMBER_FLOAT"
    if isinstance(value, dict):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    return "VALUE_STRING"


def _parser_error(java_type: str, value, column: int) -> ApiError:
    shown = value if not isinstance(value, (dict, list)) else ""
    if isinstance(value, bool):
        shown = str(value).lower()
    return ApiError(400, "JSON_PARSER_ERROR",
                    f"Cannot deserialize instance of {java_type} from {_json_kind(value)} value {shown} "
                    f"or request may be missing a required field at [line:1, column:{column}]")


def coerce(f: Field, value, column: int = 1):
    """JSON value -> stored value for field ``f``; raises ApiError(JSON_PARSER_ERROR) on a type mismatch."""
    if value is None:
        return None
    t = f.type
    if t == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _parser_error("boolean", value, column)
    if t in NUMBER_TYPES:
        java = "int" if t == "int" else "double"
        if isinstance(value, bool) or isinstance(value, (dict, list)):
            raise _parser_error(java, value, column)
        try:
            num = float(value)
        except (TypeError, ValueError):
            raise _parser_error(java, value, column) from None
        if t == "int":
            if num != int(num):
                raise _parser_error(java, value, column)
            return int(num)
        return num
    if t == "date":
        if isinstance(value, str):
            if parse_date(value):
                return value
            dt = parse_dt(value, strict_body=True)
            if dt:
                return dt.date().isoformat()
        raise _parser_error("date", value, column)
    if t == "datetime":
        if isinstance(value, str):
            dt = parse_dt(value, strict_body=True)
            if dt:
                return fmt_dt(dt)
            if parse_date(value):
                return value + "T00:00:00.000+0000"
        raise _parser_error("datetime", value, column)
    # text-like
    if isinstance(value, (dict, list)):
        raise _parser_error("String", value, column)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value == int(value):
        return str(int(value)) if abs(value) < 1e15 else str(value)
    return str(value)


def column_of(raw: str | None, key: str) -> int:
    """Approximate 1-based column of ``key``'s value in the raw JSON text (for parser messages)."""
    if not raw:
        return 1
    pos = raw.find(f'"{key}"')
    if pos < 0:
        return 1
    colon = raw.find(":", pos)
    return colon + 2 if colon >= 0 else pos + 1
