"""Real WordPress + MariaDB for the plugin tests (wp-plugin/tests/setup-env.sh prepares them).

Without php / mariadb / WordPress core the tests skip, unless WOOFORCE_REQUIRE_WORDPRESS=1 (CI),
in which case they fail.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN_ROOT = REPO_ROOT / "wp-plugin"
SETUP_ENV = PLUGIN_ROOT / "tests" / "setup-env.sh"
WP_CORE = Path(os.environ.get("WOOFORCE_WP_CORE_DIR", "/usr/share/wordpress"))


def missing_tools() -> list[str]:
    missing = [tool for tool in ("php", "phpunit", "mariadbd", "mariadb") if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists()]
    if not (WP_CORE / "wp-settings.php").exists():
        missing.append(f"WordPress core in {WP_CORE}")
    return missing


def require_or_skip(reason: str) -> None:
    if os.environ.get("WOOFORCE_REQUIRE_WORDPRESS") == "1":
        pytest.fail(f"{reason} (WOOFORCE_REQUIRE_WORDPRESS=1; run: bash wp-plugin/tests/setup-env.sh)")
    pytest.skip(f"{reason}; run `bash wp-plugin/tests/setup-env.sh` (as root) to install and start them")


@pytest.fixture(scope="session")
def wordpress_env() -> Path:
    """Make sure MariaDB runs and WordPress is installed with the plugin active (idempotent)."""
    missing = missing_tools()
    if missing:
        require_or_skip("not installed: " + ", ".join(missing))
    proc = subprocess.run(["bash", str(SETUP_ENV)], capture_output=True, text=True, timeout=600)
    print(proc.stdout, proc.stderr)
    if proc.returncode != 0:
        require_or_skip(f"setup-env.sh failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return PLUGIN_ROOT
