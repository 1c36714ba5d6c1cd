"""The store's native webhooks as WooCommerce keeps them (``/wp-json/wc/v3/webhooks``), and what happens to one
whose deliveries fail.

Each topic's deliveries go to its webhook's ``delivery_url`` while the webhook is ``active``. As
``WC_Webhook::failed_delivery()`` does, a failed delivery (no answer, or not 2xx) adds one to the webhook's
failure count; a success resets it; a failure once the count is above 5 disables the webhook instead (status
``disabled``), and WooCommerce never retries it nor turns it back on: deliveries of its topic stop until someone
re-activates it (``PUT /webhooks/{id}`` status ``active``, which resets the count). The shapes follow
``rest/webhooks-list.json``, ``webhook-create.json`` and ``webhook-activate.json`` of the captured store.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .clock import Clock, StoreTime

MAX_FAILURES = 5  # woocommerce_max_webhook_delivery_failures
STATUSES = ("active", "paused", "disabled")
# the action hooks WooCommerce 10.0.2 lists per topic (captured where the fixture has the topic)
HOOKS = {
    "order.created": ["woocommerce_new_order"],
    "order.updated": ["woocommerce_update_order", "woocommerce_order_refunded"],
    "order.deleted": ["wp_trash_post", "woocommerce_trash_order"],
    "order.restored": ["untrashed_post", "woocommerce_untrash_order"],
    "product.created": ["woocommerce_process_product_meta", "woocommerce_new_product",
                        "woocommerce_new_product_variation"],
    "product.updated": ["woocommerce_process_product_meta", "woocommerce_update_product",
                        "woocommerce_update_product_variation"],
    "product.deleted": ["wp_trash_post"],
    "product.restored": ["untrashed_post"],
    "customer.created": ["user_register", "woocommerce_created_customer", "woocommerce_new_customer"],
    "customer.updated": ["profile_update", "woocommerce_update_customer"],
    "customer.deleted": ["delete_user"],
    "coupon.created": ["woocommerce_process_shop_coupon_meta", "woocommerce_new_coupon"],
}


@dataclass
class Webhook:
    id: int
    name: str
    topic: str
    delivery_url: str
    secret: str
    created: int
    status: str = "active"
    failure_count: int = 0
    modified: int | None = None

    def render(self, times: StoreTime, base: str) -> dict[str, Any]:
        resource, _, event = self.topic.partition(".")
        href = f"{base}/wp-json/wc/v3/webhooks"
        return {"id": self.id, "name": self.name, "status": self.status, "topic": self.topic, "resource": resource,
                "event": event, "hooks": list(HOOKS.get(self.topic, [])), "delivery_url": self.delivery_url,
                "date_created": times.local(self.created), "date_created_gmt": times.gmt(self.created),
                "date_modified": times.local(self.modified), "date_modified_gmt": times.gmt(self.modified),
                "_links": {"self": [{"href": f"{href}/{self.id}",
                                     "targetHints": {"allow": ["GET", "POST", "PUT", "PATCH", "DELETE"]}}],
                           "collection": [{"href": href}]}}


class WebhookError(Exception):
    def __init__(self, status: int, code: str, message: str, data: dict[str, Any] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.data = status, code, message, data


class Webhooks:
    """The store's webhooks by id."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.by_id: dict[int, Webhook] = {}

    def replace(self, ids_by_topic: dict[str, int], delivery_url: str, secret: str,
                topics: list[str] | None = None) -> None:
        """One active webhook per topic (``topics``: only these), all delivering to ``delivery_url``."""
        now = self.clock.now()
        self.by_id = {i: Webhook(i, f"Wooforce {t}", t, delivery_url, secret, now, modified=now)
                      for t, i in ids_by_topic.items() if topics is None or t in topics}

    def clear(self) -> None:
        self.by_id = {}

    def for_topic(self, topic: str) -> Webhook | None:
        """The webhook that delivers ``topic`` now (an active one), if any."""
        return next((w for w in self.by_id.values() if w.topic == topic and w.status == "active"), None)

    def get(self, webhook_id: int) -> Webhook:
        wh = self.by_id.get(webhook_id)
        if wh is None:
            raise WebhookError(404, "woocommerce_rest_webhook_invalid_id", "Invalid ID.")
        return wh

    def delivered(self, wh: Webhook, ok: bool) -> None:
        """Count one delivery's outcome as WC_Webhook::deliver() / failed_delivery() do."""
        if ok:
            wh.failure_count = 0
        elif wh.failure_count > MAX_FAILURES:
            wh.status = "disabled"
        else:
            wh.failure_count += 1

    def update(self, webhook_id: int, data: dict[str, Any]) -> Webhook:
        wh = self.get(webhook_id)
        status = data.get("status")
        if status is not None and status not in STATUSES:
            raise WebhookError(400, "rest_invalid_param", "Invalid parameter(s): status",
                               {"params": {"status": f"status is not one of {', '.join(STATUSES)}."}})
        if "delivery_url" in data:
            wh.delivery_url = str(data["delivery_url"])
        if "name" in data:
            wh.name = str(data["name"])
        if "secret" in data:
            wh.secret = str(data["secret"])
        if status is not None:
            if status == "active" and wh.status != "active":
                wh.failure_count = 0
            wh.status = status
        wh.modified = self.clock.now()
        return wh
