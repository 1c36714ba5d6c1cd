"""Runs the plugin's PHPUnit suite (real WordPress, real MariaDB, WooCommerce stand-in) and asserts it passes."""
from __future__ import annotations

import subprocess

import pytest

pytestmark = pytest.mark.wordpress


def test_phpunit_suite_passes(wordpress_env):
    proc = subprocess.run(
        ["phpunit", "-c", "phpunit.xml.dist"],
        cwd=wordpress_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    print(proc.stdout)
    print(proc.stderr)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "OK (" in proc.stdout


def test_php_files_lint(wordpress_env):
    files = sorted(p for p in wordpress_env.rglob("*.php"))
    assert len(files) > 10
    for path in files:
        proc = subprocess.run(["php", "-l", str(path)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{path}: {proc.stdout}{proc.stderr}"
