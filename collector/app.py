"""The collector's application factory."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web
from loguru import logger

from collector import keys
from collector.batcher import GroupCommitter
from collector.errors import make_error_middleware
from collector.metrics import Metrics, make_metrics_middleware
from collector.routes import setup_routes
from collector.webauth import security_headers
from shared import migrations
from shared.crypto import Vault
from shared.db import Database, resolve_dsn
from shared.outbox import OutboxManager
from shared.settings import Settings
from shared.stores import StoreManager


def create_app(settings: Settings, *, db: Database | None = None) -> web.Application:
    """Build the collector. Pass an open ``db`` to share one (tests); otherwise the app opens its own."""
    metrics = Metrics()
    # client_max_size is the first size aiohttp refuses: one above MAX_BODY_BYTES, so exactly that much is accepted
    app = web.Application(client_max_size=settings.max_body_bytes + 1,
                          middlewares=[make_metrics_middleware(metrics), make_error_middleware(settings.retry_after_s)],
                          # bodies stay as sent: a compressed one is refused (415) before it is read, never inflated
                          # (aiohttp would inflate up to 32 MiB per request before any signature is checked);
                          # these override run_app's and TestServer's own values
                          handler_args={"auto_decompress": False,
                                        "keepalive_timeout": settings.http_keepalive_timeout_s})
    app.on_response_prepare.append(_security_headers)
    app[keys.SETTINGS] = settings
    app[keys.METRICS] = metrics
    app.cleanup_ctx.append(_database(db))
    app.cleanup_ctx.append(_committer)
    setup_routes(app)
    return app


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer (ingest, API, console, 404 pages, errors) carries the console pages' security headers."""
    security_headers(response)


def _database(given: Database | None) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[keys.SETTINGS]
        db = given
        if db is None:
            db = await Database.from_settings(settings, await resolve_dsn(settings)).open()
            if settings.should_migrate:
                await migrations.migrate(db)
        await migrations.check(db)
        app[keys.DB] = db
        app[keys.STORES] = StoreManager(db, Vault.from_settings(settings), cache_ttl_s=settings.store_cache_ttl_s)
        try:
            await app[keys.STORES].check_keys()  # a wrong master key stops start-up (not a 500 per signed event)
        except BaseException:
            if given is None:
                await db.close()
            raise
        app[keys.OUTBOX] = OutboxManager(db)
        logger.bind(action="collector.started").info("collector ready")
        yield
        if given is None:
            await db.close()

    return ctx


async def _committer(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    committer = GroupCommitter(app[keys.DB], app[keys.OUTBOX], writers=settings.ingest_writers,
                               max_batch_events=settings.ingest_max_batch_events, on_batch=app[keys.METRICS].on_batch)
    await committer.start()
    app[keys.COMMITTER] = committer
    yield
    await committer.stop()
    logger.bind(action="collector.stopped").info("collector stopped; every accepted event was committed")
