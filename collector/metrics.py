"""Prometheus metrics for the collector (a registry per app, so tests can run several apps)."""
from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("wooforce_ingest_requests_total", "Ingest requests by endpoint and HTTP status",
                                ["endpoint", "status"], registry=self.registry)
        self.events = Counter("wooforce_ingest_events_total", "Events received by source and result",
                              ["source", "result"], registry=self.registry)
        self.latency = Histogram("wooforce_ingest_request_seconds", "Ingest request latency",
                                 ["endpoint"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self.batch_events = Histogram("wooforce_group_commit_events", "Events per group commit",
                                      registry=self.registry, buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000))
        self.batch_requests = Histogram("wooforce_group_commit_requests", "Requests sharing one commit",
                                        registry=self.registry, buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
        self.commit_seconds = Histogram("wooforce_group_commit_seconds", "Duration of one group commit",
                                        registry=self.registry)
        # read from sf_budget at each scrape: the agent records it (it serves no /metrics of its own)
        self.flush_window = Gauge("wooforce_salesforce_flush_window_seconds", "flush window in force per store: how "
                                  "long a change may wait to share a Salesforce call", ["store_id"],
                                  registry=self.registry)

    def set_flush_windows(self, rows: list[tuple[str, float]]) -> None:
        self.flush_window.clear()
        for store_id, window_s in rows:
            self.flush_window.labels(store_id).set(window_s)

    def on_batch(self, n_requests: int, n_events: int, duration_ms: float) -> None:
        self.batch_requests.observe(n_requests)
        self.batch_events.observe(n_events)
        self.commit_seconds.observe(duration_ms / 1000)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def make_metrics_middleware(metrics: Metrics) -> Middleware:
    """Counts every ``/v1/`` request by endpoint (the path's last segment: events, woocommerce, ping, resync) and
    status, errors included (it runs outside the error middleware, which turns them into responses)."""
    @web.middleware
    async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/v1/"):
            return await handler(request)
        resource = request.match_info.route.resource
        endpoint = resource.canonical.rsplit("/", 1)[-1] if resource is not None else "unmatched"
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            metrics.requests.labels(endpoint, str(status)).inc()

    return metrics_middleware
