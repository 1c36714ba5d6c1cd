"""Money as WooCommerce shows it: Decimal maths, half-up rounding, 2-decimal strings."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0")


def dec(value: object) -> Decimal:
    if value in (None, ""):
        return ZERO
    return Decimal(str(value))


def q2(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def fmt(value: Decimal) -> str:
    return f"{q2(value):.2f}"


def unpadded(value: Decimal) -> str:
    text = f"{q2(value):f}".rstrip("0").rstrip(".")
    return text or "0"


def number(value: Decimal) -> int | float:
    """A JSON number as PHP prints it: 12, 10.8, 35.99."""
    value = q2(value)
    return int(value) if value == value.to_integral_value() else float(value)
