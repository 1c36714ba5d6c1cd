"""WordPress / WooCommerce REST error bodies, worded exactly as WooCommerce 10.0.2 sends them."""
from __future__ import annotations

from typing import Any


def body(code: str, message: str, status: int, **data: Any) -> dict[str, Any]:
    return {"code": code, "message": message, "data": {"status": status, **data}}


def enum_list(values: list[str]) -> str:
    """wp_sprintf_l: 'a, b, and c' / 'a and b'."""
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return f"{values[0]} and {values[1]}"
    return f"{', '.join(values[:-1])}, and {values[-1]}"


class ParamErrors(Exception):
    """400 rest_invalid_param with ``params`` and ``details`` per parameter."""

    def __init__(self) -> None:
        super().__init__("invalid parameters")
        self.items: dict[str, tuple[str, str, dict[str, Any] | None]] = {}

    def add(self, param: str, code: str, message: str, data: dict[str, Any] | None = None) -> None:
        self.items.setdefault(param, (code, message, data))

    def body(self) -> dict[str, Any]:
        return body("rest_invalid_param", f"Invalid parameter(s): {', '.join(self.items)}", 400,
                    params={k: m for k, (_, m, _d) in self.items.items()},
                    details={k: {"code": c, "message": m, "data": d} for k, (c, m, d) in self.items.items()})


NO_ROUTE = body("rest_no_route", "No route was found matching the URL and request method.", 404)
CANNOT_LIST = ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
UNAUTHENTICATED = {
    ("GET", "list"): CANNOT_LIST,
    ("GET", "item"): ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource."),
    ("POST", "list"): ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."),
    ("PUT", "item"): ("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."),
    ("DELETE", "item"): ("woocommerce_rest_cannot_delete", "Sorry, you are not allowed to delete this resource."),
}
AUTH_ERROR = "woocommerce_rest_authentication_error"
