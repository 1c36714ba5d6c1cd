"""What every command shares: opening the database (migrating as configured), running a command with a
:class:`~shared.stores.StoreManager`, printing a result as text or JSON."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from shared.settings import Settings

if TYPE_CHECKING:
    from shared.db import Database


async def open_db(settings: Settings, *, migrate: bool | None = None) -> Database:
    from shared import migrations
    from shared.db import Database, resolve_dsn

    db = await Database.from_settings(settings, await resolve_dsn(settings)).open()
    if settings.should_migrate if migrate is None else migrate:
        await migrations.migrate(db)
    await migrations.check(db)
    return db


def storage(settings: Settings) -> str:
    """Where this process keeps its data: the data directory and the database (no password)."""
    if settings.embedded:
        return f"the embedded database in {settings.data_dir}"
    dsn = urlsplit(settings.database_url or "")
    where = f"{dsn.hostname or 'localhost'}{f':{dsn.port}' if dsn.port else ''}{dsn.path or ''}"
    return f"the database {dsn.username + '@' if dsn.username else ''}{where} (data directory {settings.data_dir})"


def print_storage(settings: Settings) -> None:
    print(f"wooforce: using {storage(settings)}", file=sys.stderr, flush=True)


def with_stores(fn: Callable[..., Awaitable[int]]) -> Callable[[Settings, argparse.Namespace], int]:
    """Run ``fn(stores, args, settings)`` with the database open; a ``--store`` that does not exist is refused
    first (exit 4, "no store X"), before anything refers to it."""
    def run(settings: Settings, args: argparse.Namespace) -> int:
        async def main() -> int:
            from shared.crypto import Vault
            from shared.errors import NotFound
            from shared.stores import StoreManager

            db = await open_db(settings)
            try:
                store_id = getattr(args, "store", None)
                if isinstance(store_id, str) and await db.fetchrow("get_store", store_id) is None:
                    raise NotFound(f"no store {store_id} in {storage(settings)}")
                return await fn(StoreManager(db, Vault.from_settings(settings)), args, settings)
            finally:
                await db.close()

        return asyncio.run(main())

    return run


def print_out(obj: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj, indent=2, default=str))
    elif isinstance(obj, list):
        for row in obj:
            print("  ".join(f"{k}={v}" for k, v in row.items()))
    else:
        for k, v in obj.items():
            print(f"{k}: {v}")
