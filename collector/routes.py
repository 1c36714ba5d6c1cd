"""Every route of the collector, in one place."""
from __future__ import annotations

from aiohttp import web

from collector import health, ingest, pipeline, plugin_entities
from collector.console.mount import setup_console


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/v1/stores/{store_id}/events", ingest.post_events)
    app.router.add_post("/v1/stores/{store_id}/woocommerce", ingest.post_woocommerce)
    app.router.add_post("/v1/stores/{store_id}/ping", ingest.post_ping)
    app.router.add_post("/v1/stores/{store_id}/resync", ingest.post_resync)
    app.router.add_post("/v1/stores/{store_id}/health", pipeline.post_health)
    app.router.add_post("/v1/stores/{store_id}/jobs/{job_id}", pipeline.post_job)
    app.router.add_post("/v1/stores/{store_id}/entities/state", plugin_entities.post_entity_states)
    app.router.add_post("/v1/stores/{store_id}/entities/{resource}/{resource_id}/state",
                        plugin_entities.post_entity_state)
    app.router.add_post("/v1/stores/{store_id}/entities/{resource}/{resource_id}/sync",
                        plugin_entities.post_entity_sync)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics)
    setup_console(app)  # /console (support console) and /api/v1 (admin API)
