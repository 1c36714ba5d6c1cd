"""``python -m emulators.woocommerce --port 8080 --seed 1 --orders 1000``: run the emulator until interrupted."""
from __future__ import annotations

import argparse
import asyncio
import json
import signal

from loguru import logger

from .emulator import WooCommerceEmulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m emulators.woocommerce", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--https", action="store_true", help="serve TLS with a throw-away trustme CA (see --ca-path)")
    p.add_argument("--ca-path", default=None, help="where to write the CA PEM for clients (https mode)")
    p.add_argument("--assume-https", choices=["yes", "no"], default=None,
                   help="treat every request as https (yes) or http (no), e.g. behind a TLS-terminating proxy")
    p.add_argument("--trust-forwarded-proto", action="store_true")
    p.add_argument("--public-url", default=None)
    p.add_argument("--timezone", default="America/Los_Angeles")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--orders", type=int, default=0)
    p.add_argument("--products", type=int, default=0)
    p.add_argument("--customers", type=int, default=0)
    p.add_argument("--api-key", action="append", default=[],
                   help="ck_...:cs_...[:permissions] to preload (repeatable); otherwise one key is created and printed")
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    emu = WooCommerceEmulator(host=args.host, port=args.port, https=args.https, ca_path=args.ca_path,
                              timezone=args.timezone, trust_forwarded_proto=args.trust_forwarded_proto,
                              assume_https=None if args.assume_https is None else args.assume_https == "yes",
                              public_url=args.public_url)
    seeded = emu.seed(orders=args.orders, products=args.products, customers=args.customers, seed=args.seed)
    keys = []
    for spec in args.api_key:
        ck, cs, *perm = spec.split(":")
        emu.keyring.add(perm[0] if perm else "read_write", consumer_key=ck, consumer_secret=cs)
        keys.append(ck)
    created = None
    if not keys:
        created = emu.add_api_key("read_write")
    await emu.start()
    # stdout on purpose: the operator needs the generated key once; never logged
    print(json.dumps({"url": emu.url, "ca_path": str(emu.ca_path) if emu.ca_path else None, "seeded": seeded,
                      "consumer_key": created[0] if created else None,
                      "consumer_secret": created[1] if created else None}), flush=True)
    logger.bind(action="wc_emulator.start").info("WooCommerce emulator listening on {}", emu.url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await emu.stop()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
