"""Run order-save-wc.php in the real store of tests/store (WordPress 6.8.8 + WooCommerce 10.0.2, HPOS on) at 2 and
40 lines, with Wooforce active. ``--plugin DIR`` benches another copy of the plugin (e.g. an older commit's
``git archive``) in place of wp-plugin/wooforce; ``--store ROOT`` reuses a store already built (WOOFORCE_STORE_KEEP=1).

    python wp-plugin/bench/real_store.py [--plugin DIR] [--store ROOT --url URL] [--saves 200] [--lines 2 40]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from tests.store.realstore import PHP_DIR, REPO_ROOT, RealStore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plugin", type=Path, default=REPO_ROOT / "wp-plugin" / "wooforce")
    parser.add_argument("--store", type=Path, help="root of a store built before (its MariaDB still running)")
    parser.add_argument("--url", default="", help="that store's URL")
    parser.add_argument("--saves", type=int, default=200)
    parser.add_argument("--lines", type=int, nargs="+", default=[2, 40])
    args = parser.parse_args()
    store = RealStore(args.store, url=args.url) if args.store else RealStore.build()
    link = store.wp / "wp-content" / "plugins" / "wooforce"
    try:
        link.unlink()
        link.symlink_to(args.plugin.resolve())
        env = {"WOOFORCE_STORE_URL": store.url}
        subprocess.run(["php", str(PHP_DIR / "install.php"), str(store.wp), "wooforce"], check=True,
                       env={**store._env(), **env})
        for lines in args.lines:
            done = subprocess.run(["php", str(HERE / "order-save-wc.php"), str(store.wp), str(args.saves), str(lines)],
                                  capture_output=True, text=True, env={**store._env(), **env}, timeout=1800)
            if done.returncode != 0:
                raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
            print(done.stdout, flush=True)
    finally:
        link.unlink()
        link.symlink_to(REPO_ROOT / "wp-plugin" / "wooforce")
        if not args.store:
            store.close()


if __name__ == "__main__":
    main()
