"""The plugin's PHPUnit suite (wp-plugin/tests: WooCommerce stand-in) on WordPress 6.8.8, the core the real store
runs, besides Debian's 6.1.9 (tests/wordpress/test_phpunit.py): its own database on the store's MariaDB."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.store.realstore import REPO_ROOT

PLUGIN = REPO_ROOT / "wp-plugin"


def test_phpunit_suite_passes_on_wordpress_688(real_store):
    if not shutil.which("phpunit"):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("phpunit is not installed (bash wp-plugin/tests/setup-env.sh installs it)")
        pytest.skip("phpunit is not installed (bash wp-plugin/tests/setup-env.sh installs it)")
    real_store.sql("CREATE DATABASE IF NOT EXISTS wooforce_wp_test CHARACTER SET utf8mb4; "
                   "CREATE USER IF NOT EXISTS 'wooforce'@'127.0.0.1' IDENTIFIED BY 'wooforce'; "
                   "GRANT ALL ON wooforce_wp_test.* TO 'wooforce'@'127.0.0.1';")
    env = {**os.environ, "WOOFORCE_WP_CORE_DIR": str(real_store.wp),
           "WOOFORCE_WP_DB_HOST": f"127.0.0.1:{real_store.db_port}"}
    version = subprocess.run(["php", "-r", f"include '{real_store.wp}/wp-includes/version.php'; echo $wp_version;"],
                             capture_output=True, text=True, check=True).stdout
    assert version == "6.8.8"
    install = subprocess.run(["php", str(PLUGIN / "tests" / "install-wp.php")], env=env, capture_output=True,
                             text=True, timeout=300)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    proc = subprocess.run(["phpunit", "-c", "phpunit.xml.dist"], cwd=PLUGIN, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0 and "OK (" in proc.stdout, proc.stdout[-4000:] + proc.stderr[-2000:]
