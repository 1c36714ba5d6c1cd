"""Alerts: dead letters, delivery lag, Salesforce API budget, failing store keys, failing Salesforce connections,
native webhooks WooCommerce disabled (or paused, misdirected, missing: ``store_webhooks``, issue 14).

:func:`evaluate_alerts` is a periodic job (the agent's scheduler runs it every ``ALERT_INTERVAL_S``). Each
condition has a stable key; its state (firing/resolved, last notified) lives in the ``alerts`` table, so a
restart neither repeats nor forgets a notification. New alerts are announced once and then at most every
``ALERT_REPEAT_S`` (rate limit); a condition that clears gets a "resolved" notice. All notices of one
evaluation go out as one message, to a Slack-compatible webhook (``{"text": ...}``) and/or by SMTP email.
A notice that could not be sent is retried at the next evaluation.
"""
from __future__ import annotations

import asyncio
import smtplib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import aiohttp
from loguru import logger

from shared.db import Database
from shared.settings import Settings


@dataclass(frozen=True, slots=True)
class Condition:
    key: str
    kind: str
    store_id: str | None
    summary: str


async def current_conditions(db: Database, settings: Settings) -> list[Condition]:
    out: list[Condition] = []
    for r in await db.fetch("alerts_dead_letters"):
        out.append(Condition(f"dead_letters:{r['store_id']}", "dead_letters", r["store_id"],
                             f"{r['n']} dead-lettered entities in store {r['store_id']}"
                             + (f" (mostly {r['top_error']})" if r["top_error"] else "")))
    for r in await db.fetch("outbox_oldest_undelivered", None, None, None):
        if r["age_s"] is not None and r["age_s"] > settings.alert_lag_threshold_s:
            out.append(Condition(f"lag:{r['store_id']}", "lag", r["store_id"],
                                 f"delivery lag in store {r['store_id']}: the oldest change of {r['n']} waiting "
                                 f"entities is {int(r['age_s'])} s old (threshold {settings.alert_lag_threshold_s} s)"))
    for r in await db.fetch("alerts_sf_connection"):
        since = r["failing_since"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        out.append(Condition(f"sf_connection:{r['store_id']}", "sf_connection", r["store_id"],
                             f"Salesforce connection of store {r['store_id']} ({r['name']}) failing since {since}: "
                             f"{r['error_code']}: {(r['error'] or '')[:300]}"))
    if await db.fetchval("console_table_exists", "sf_budget"):
        for r in await db.fetch("alerts_budget"):
            share = r["api_used"] / r["api_max"]
            if share >= settings.alert_api_budget_share:
                out.append(Condition(f"api_budget:{r['store_id']}", "api_budget", r["store_id"],
                                     f"Salesforce API budget of store {r['store_id']}: {r['api_used']}/{r['api_max']} "
                                     f"calls used today ({share:.0%})"))
    for r in await db.fetch("alerts_keys_failed"):
        out.append(Condition(f"keys_failed:{r['id']}", "keys_failed", r["id"],
                             f"WooCommerce keys of store {r['id']} ({r['name']}) are failing"))
    if await db.fetchval("console_table_exists", "store_webhooks"):
        for r in await db.fetch("alerts_webhooks"):
            out.append(Condition(f"webhooks:{r['store_id']}", "webhooks", r["store_id"],
                                 webhooks_summary(r["store_id"], r["name"], r["state"])))
    return out


def webhooks_summary(store_id: str, name: str | None, state: dict[str, Any]) -> str:
    """The ``webhooks`` alert's line: the store and what is wrong with its native webhooks (``store_webhooks.state``,
    written by agent/reconcile/webhooks.py)."""
    def ids(key: str) -> str:
        return ", ".join(f"#{i}" for i in state.get(key) or [])

    topic_of = {w["id"]: w["topic"] for w in state.get("webhooks") or []}

    def named(key: str) -> str:
        return ", ".join(f"#{i} {topic_of.get(i, '?')}" for i in state.get(key) or [])

    parts = []
    if state.get("reactivated"):
        parts.append(f"disabled by WooCommerce after failed deliveries, re-activated: {named('reactivated')}")
    if state.get("disabled"):
        parts.append(f"disabled by WooCommerce, the REST keys may not re-activate them (read only): "
                     f"{named('disabled')}")
    if state.get("paused"):
        parts.append(f"paused: {named('paused')}")
    if state.get("wrong_url"):
        parts.append(f"wrong delivery URL: {ids('wrong_url')}")
    if state.get("missing_topics"):
        parts.append(f"no active webhook for {', '.join(state['missing_topics'])}")
    if state.get("error"):
        parts.append(f"could not be read: {state['error'][:200]}")
    return f"native webhooks of store {store_id}" + (f" ({name})" if name else "") + ": " + "; ".join(parts)


async def _post_webhook(url: str, text: str, timeout_s: float) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as s:
        async with s.post(url, json={"text": text}) as resp:
            if resp.status >= 300:
                raise RuntimeError(f"alert webhook answered {resp.status}")


def _send_email(settings: Settings, subject: str, text: str) -> None:
    host = settings.alert_smtp_host
    if not host:  # the caller checks; nothing to send to
        return
    msg = EmailMessage()
    msg["From"] = settings.alert_email_from
    msg["To"] = ", ".join(settings.alert_email_to)
    msg["Subject"] = subject
    msg.set_content(text)
    with smtplib.SMTP(host, settings.alert_smtp_port, timeout=settings.alert_smtp_timeout_s) as smtp:
        if settings.alert_smtp_starttls:
            smtp.starttls()
        if settings.alert_smtp_username:
            pw = settings.alert_smtp_password.get_secret_value() if settings.alert_smtp_password else ""
            smtp.login(settings.alert_smtp_username, pw)
        smtp.send_message(msg)


async def notify(settings: Settings, subject: str, lines: list[str]) -> bool:
    """Send one message to every configured channel; True if all succeeded (or none is configured)."""
    text = subject + "\n" + "\n".join(f"• {ln}" for ln in lines)
    ok = True
    if settings.alert_webhook_url:
        try:
            await _post_webhook(settings.alert_webhook_url, text, settings.alert_smtp_timeout_s)
        except (TimeoutError, aiohttp.ClientError, RuntimeError) as exc:
            ok = False
            logger.bind(action="alerts.webhook_failed").warning(f"{type(exc).__name__}: {exc}")
    if settings.alert_smtp_host and settings.alert_email_to:
        try:
            await asyncio.to_thread(_send_email, settings, subject, text)
        except (OSError, smtplib.SMTPException) as exc:
            ok = False
            logger.bind(action="alerts.email_failed").warning(f"{type(exc).__name__}: {exc}")
    return ok


async def evaluate_alerts(db: Database, settings: Settings) -> dict:
    """One evaluation: fire new alerts, re-notify old ones (rate-limited), resolve cleared ones."""
    t0 = time.perf_counter()
    conditions = await current_conditions(db, settings)
    now = datetime.now(UTC)
    to_notify = []
    for c in conditions:
        row = await db.fetchrow("alerts_upsert_firing", c.key, c.kind, c.store_id, c.summary)
        assert row is not None  # INSERT ... ON CONFLICT DO UPDATE ... RETURNING
        last = row["last_notified_at"]
        if last is None or (now - last).total_seconds() >= settings.alert_repeat_s:
            to_notify.append((c, last is not None))
    resolved = [dict(r) for r in await db.fetch("alerts_resolve", [c.key for c in conditions])]
    resolved = [r for r in resolved if r["last_notified_at"] is not None]  # never announced: nothing to resolve
    sent = True
    if to_notify:
        lines = [("still firing: " if again else "") + c.summary for c, again in to_notify]
        sent = await notify(settings, f"Wooforce: {len(to_notify)} alert(s) firing", lines)
        if sent:
            await db.execute("alerts_mark_notified", [c.key for c, _ in to_notify])
    if resolved:
        await notify(settings, f"Wooforce: {len(resolved)} alert(s) resolved",
                     [f"resolved: {r['summary']}" for r in resolved])
    result = {"firing": len(conditions), "notified": len(to_notify) if sent else 0, "resolved": len(resolved)}
    logger.bind(action="alerts.evaluated", duration_ms=round((time.perf_counter() - t0) * 1000, 1), **result).info(
        "alerts evaluated")
    return result


async def list_alerts(db: Database, status: str | None = None) -> list[dict]:
    return [dict(r) for r in await db.fetch("alerts_list", status)]


async def purge_payloads(db: Database, settings: Settings, *, batch: int = 5000) -> int:
    """Retention: replace payloads of delivered events older than ``RETENTION_DELIVERED_PAYLOAD_DAYS``."""
    days = settings.retention_delivered_payload_days
    if not days:
        return 0
    t0 = time.perf_counter()
    total = 0
    while True:
        result = await db.execute("purge_delivered_payloads", days, batch)
        n = int(result.split()[-1])
        total += n
        if n < batch:
            break
    logger.bind(action="retention.purged", rows=total, duration_ms=round((time.perf_counter() - t0) * 1000, 1)).info(
        "delivered payloads purged")
    return total


def register_jobs(scheduler: Any, *, db: Database, settings: Settings) -> None:
    """Add alert evaluation (every ``ALERT_INTERVAL_S``) and payload retention (hourly) to the agent's scheduler."""
    from shared.errors import WooforceError

    async def guarded(fn: Callable[[Database, Settings], Awaitable[object]], action: str) -> None:
        try:
            await fn(db, settings)
        except WooforceError as exc:  # e.g. database unavailable: the next run tries again
            logger.bind(action=action).warning(f"{type(exc).__name__}: {exc}")

    scheduler.add_job(guarded, "interval", seconds=settings.alert_interval_s, args=[evaluate_alerts, "alerts.failed"],
                      id="alerts")
    if settings.retention_delivered_payload_days:
        scheduler.add_job(guarded, "interval", seconds=3600, args=[purge_payloads, "retention.failed"], id="retention")
