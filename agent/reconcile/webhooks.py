"""The store's native webhooks, checked on every reconcile run (issue 14, problem 3).

WooCommerce disables a webhook once more than 5 consecutive deliveries have failed (a short collector outage is
enough) and never turns it back on: real-time sync then silently falls back to the reconcile interval. Each run reads
the store's webhooks (``GET /webhooks``, one request) and, for those pointing at this collector (their delivery URL
holds the store's collector path ``/v1/stores/{id}/woocommerce``):

* re-activates each one WooCommerce disabled (``PUT /webhooks/{id}`` status ``active``), when the REST keys allow it
  (read_write; read-only keys are refused, and the webhook is reported);
* reports a paused one, a wrong delivery URL (not ``WOOFORCE_PUBLIC_URL`` + that path, when the public URL is set)
  and each synced topic no active webhook of this collector delivers.

A store none of whose webhooks points at this collector (the plugin sends its events, or native webhooks are not
set up) has nothing to check (``status = none``). What was found is stored (``store_webhooks``, one row per store:
the dashboard, the plugin's health check and the ``webhooks`` alert read it) and kept in the run's gap report
(``reconcile_runs.webhooks``). A refusal to list the webhooks (no such route, ...) is recorded and does not fail the
run; refused keys and an unavailable store fail it (auth_failed / retrying), as its first listing would.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from loguru import logger

from agent.woocommerce import WooClient
from shared.alerts import webhooks_summary
from shared.errors import RetryableError, WooCommerceAuthError, WooforceError

# the topics Wooforce syncs (shared.models.event_from_wc_webhook): each needs an active webhook of this collector
TOPICS = ("order.created", "order.updated", "order.deleted", "order.restored",
          "product.created", "product.updated", "product.deleted", "product.restored",
          "customer.created", "customer.updated", "customer.deleted")


def collector_path(store_id: str) -> str:
    return f"/v1/stores/{store_id}/woocommerce"


@dataclass
class WebhookCheck:
    status: str = "ok"  # ok | problems | none (no webhook points at this collector) | error (could not read them)
    webhooks: list[dict[str, Any]] = field(default_factory=list)  # ours: id, topic, status (after this run)
    reactivated: list[int] = field(default_factory=list)  # were disabled by WooCommerce, active again
    disabled: list[int] = field(default_factory=list)  # disabled, and the keys may not re-activate them
    paused: list[int] = field(default_factory=list)
    wrong_url: list[int] = field(default_factory=list)
    missing_topics: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def problems(self) -> int:
        """What a person should know about: fixed in this run (re-activated) or still to fix."""
        return (len(self.reactivated) + len(self.disabled) + len(self.paused) + len(self.wrong_url)
                + len(self.missing_topics) + (1 if self.error else 0))

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "problems": self.problems}


async def check(client: WooClient, store_id: str, public_url: str | None) -> WebhookCheck:
    out = WebhookCheck()
    log = logger.bind(action="reconcile.webhooks", store_id=store_id)
    try:
        page = await client.list("webhooks", {"per_page": 100})
    except (WooCommerceAuthError, RetryableError):
        raise  # keys refused, store unavailable: the whole run fails (auth_failed / retrying), as its listing would
    except WooforceError as exc:  # e.g. no such route (a proxy, an old WooCommerce): recorded, the run goes on
        out.status, out.error = "error", exc.message[:300]
        log.warning("could not read the store's webhooks: {}", out.error)
        return out
    path = collector_path(store_id)
    ours = [w for w in page.records if isinstance(w, dict) and path in str(w.get("delivery_url") or "")]
    if not ours:
        out.status = "none"
        return out
    expected = f"{public_url.rstrip('/')}{path}" if public_url else None
    for w in sorted(ours, key=lambda w: int(w.get("id") or 0)):
        wid, status, url = int(w["id"]), str(w.get("status") or ""), str(w.get("delivery_url") or "")
        if status == "disabled":
            try:
                saved = await client.put(f"webhooks/{wid}", {"status": "active"})
                status = str(saved.get("status") or "active")
                out.reactivated.append(wid)
                log.info("webhook {} ({}) re-activated", wid, w.get("topic"))
            except WooCommerceAuthError:
                out.disabled.append(wid)
        elif status == "paused":
            out.paused.append(wid)
        if (expected is not None and url.rstrip("/") != expected) or not url.rstrip("/").endswith(path):
            out.wrong_url.append(wid)
        out.webhooks.append({"id": wid, "topic": w.get("topic"), "status": status})
    live = {w["topic"] for w in out.webhooks if w["status"] == "active" and w["id"] not in out.wrong_url}
    out.missing_topics = [t for t in TOPICS if t not in live]
    out.status = "problems" if out.problems else "ok"
    if out.problems:
        log.warning(webhooks_summary(store_id, None, out.as_json()))
    return out
