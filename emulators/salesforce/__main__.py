"""python -m emulators.salesforce --port 8443 --ca-out PATH [--daily-api-max N] [--latency-ms MS]
[--jwt-app KEY=CERT_PEM_PATH[@username]] [--client-credentials ID:SECRET[@username]]

Prints one JSON line {"url", "ca_path", "control"} and serves until interrupted."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from .server import SalesforceEmulator
from .state import INTEGRATION_USERNAME


def _split_user(text: str) -> tuple[str, str]:
    head, _, user = text.partition("@")
    return head, user or INTEGRATION_USERNAME


async def _main(args: argparse.Namespace) -> None:
    emu = SalesforceEmulator(host=args.host, port=args.port, ca_path=args.ca_out, daily_api_max=args.daily_api_max,
                             latency_ms=args.latency_ms)
    await emu.start()
    for spec in args.jwt_app:
        key_and_path, user = _split_user(spec)
        key, _, path = key_and_path.partition("=")
        emu.register_jwt_app(key, Path(path).read_bytes(), user)  # noqa: ASYNC240 - start-up, before serving
    for spec in args.client_credentials:
        creds, user = _split_user(spec)
        cid, _, secret = creds.partition(":")
        emu.register_client_credentials(cid, secret, user)
    print(json.dumps({"url": emu.url, "ca_path": str(emu.ca_path), "control": f"{emu.url}/_emulator/"}), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await emu.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m emulators.salesforce", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8443)
    p.add_argument("--ca-out", default="sf-emulator-ca.pem")
    p.add_argument("--daily-api-max", type=int, default=100_000)
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--jwt-app", action="append", default=[])
    p.add_argument("--client-credentials", action="append", default=[])
    args = p.parse_args(argv)
    try:
        asyncio.run(_main(args))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
