"""Lease owners and lease renewal, shared by every agent loop that claims rows (delivery, the WooCommerce writer,
the reconciler, jobs)."""
from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from shared import ids
from shared.db import Database
from shared.errors import RetryableError


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{ids.new_id('run')[-8:]}"


@asynccontextmanager
async def leases_kept(db: Database, owner: str, lease_s: float) -> AsyncIterator[None]:
    """While the block runs, extend ``owner``'s leases every third of ``lease_s``: a batch that outlasts its lease
    (slow API, many records) is not claimed a second time by another worker. Used by every lease holder."""
    async def beat() -> None:
        while True:
            await asyncio.sleep(max(lease_s / 3, 0.5))
            try:
                await db.execute("extend_leases", owner, float(lease_s))
            except RetryableError:
                pass  # the next beat tries again; the lease is long enough to miss one

    task = asyncio.create_task(beat(), name=f"leases:{owner}")
    try:
        yield
    finally:
        task.cancel()
