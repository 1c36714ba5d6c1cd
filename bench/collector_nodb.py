"""A diagnostic server for bench/ingest.py: the real collector (routing, store lookup, signature check, JSON
parsing, validation, answer) with the group commit answering at once instead of writing to Postgres.

Its ratio to the no-op handler is the ceiling the collector's own Python work leaves before any database
cost: the real collector cannot beat it.

    python -m bench.collector_nodb PORT
"""
from __future__ import annotations

import sys

from aiohttp import web

from collector import app as collector_app
from collector.batcher import GroupCommitter
from shared.models import NewEvent
from shared.outbox import IngestResult
from shared.settings import Settings


class AnswerOnly(GroupCommitter):
    async def submit(self, events: list[NewEvent]) -> list[IngestResult]:
        return [IngestResult(e.id, True) for e in events]


if __name__ == "__main__":
    collector_app.GroupCommitter = AnswerOnly  # only in this process
    web.run_app(collector_app.create_app(Settings()), host="127.0.0.1", port=int(sys.argv[1]), print=None,
                access_log=None)
