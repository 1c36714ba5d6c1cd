"""The plugin's release (issue 21, points 7-8): `wp-plugin/bin/build-zip` builds wooforce.zip versioned from the
plugin header alone; WordPress's own installer (Plugin_Upgrader, what "Upload Plugin" runs) installs and activates
it in a real WordPress; `bin/make-pot.php` builds the translation template without the network and refuses
strings that could not be translated."""
from __future__ import annotations

import re
import shutil
import subprocess
import zipfile

import pytest

from .conftest import PLUGIN_ROOT
from .site import Site, build_zip

pytestmark = pytest.mark.wordpress
MAKE_POT = PLUGIN_ROOT / "bin" / "make-pot.php"


def header_version() -> str:
    match = re.search(r"^ \* Version:\s*(\S+)", (PLUGIN_ROOT / "wooforce" / "wooforce.php").read_text(), re.M)
    assert match
    return match.group(1)


def test_zip_is_versioned_from_the_header(wordpress_env, tmp_path):
    path = build_zip(tmp_path / "wooforce.zip", "--plugin-uri", "https://wooforce.test/plugin")
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        main = z.read("wooforce/wooforce.php").decode()
        readme = z.read("wooforce/readme.txt").decode()
    assert all(n.startswith("wooforce/") for n in names)
    assert "wooforce/languages/wooforce.pot" in names and "wooforce/includes/class-wooforce-health.php" in names
    assert not any("/tests/" in n or n.endswith(".orig") for n in names)
    assert f"Stable tag: {header_version()}" in readme
    assert "Plugin URI:        https://wooforce.test/plugin" in main and "example.com" not in main
    assert "define( 'WOOFORCE_VERSION', '" not in main, "the constant is read from the header, not repeated"
    again = build_zip(tmp_path / "again.zip", "--plugin-uri", "https://wooforce.test/plugin")
    assert again.read_bytes() == path.read_bytes(), "reproducible"
    bad = subprocess.run([str(PLUGIN_ROOT / "bin" / "build-zip"), "--out", str(tmp_path / "x.zip"), "--plugin-uri",
                          "http://example.com"], capture_output=True, text=True)
    assert bad.returncode != 0 and "https://" in bad.stderr


def test_wordpress_installs_and_activates_the_zip(wordpress_env, tmp_path):
    path = build_zip(tmp_path / "wooforce.zip")
    site = Site.build(tmp_path / "site")
    try:
        assert site.php("state")["active"] is False
        installed = site.php("install-zip", str(path))
        assert installed["installed"] and installed["activated"], installed
        assert installed["version"] == header_version() and installed["text_domain"] == "wooforce"
        state = site.php("state")
        assert state["active"] and state["version"] == header_version() and state["spool"] is True
        assert (site.root / "wp-content" / "plugins" / "wooforce" / "languages" / "wooforce.pot").is_file()
        assert site.plugin_problems() == []
    finally:
        site.close()


def test_make_pot_is_current_and_refuses_untranslatable_calls(wordpress_env, tmp_path):
    check = subprocess.run(["php", str(MAKE_POT), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    pot = (PLUGIN_ROOT / "wooforce" / "languages" / "wooforce.pot").read_text()
    assert 'msgid "Salesforce not connected"' in pot
    assert 'msgid_plural "%s changes are waiting for Salesforce"' in pot
    assert "#. translators: %s: store name registered in the collector" in pot

    copy = tmp_path / "wp-plugin"
    shutil.copytree(PLUGIN_ROOT / "wooforce", copy / "wooforce")
    (copy / "bin").mkdir()
    shutil.copy(MAKE_POT, copy / "bin" / "make-pot.php")
    stale = subprocess.run(["php", str(copy / "bin" / "make-pot.php"), "--check"], capture_output=True, text=True)
    assert stale.returncode == 0
    extra = copy / "wooforce" / "includes" / "extra.php"
    extra.write_text("<?php\n__( 'A new label', 'wooforce' );\n")
    stale = subprocess.run(["php", str(copy / "bin" / "make-pot.php"), "--check"], capture_output=True, text=True)
    assert stale.returncode == 1 and "out of date" in stale.stderr
    extra.write_text("<?php\nesc_html__( 'No domain' );\n__( $dynamic, 'wooforce' );\n")
    bad = subprocess.run(["php", str(copy / "bin" / "make-pot.php")], capture_output=True, text=True)
    assert bad.returncode == 2
    assert "includes/extra.php:2: esc_html__() without the 'wooforce' text domain" in bad.stderr
    assert "includes/extra.php:3: __() with a text that is not a literal string" in bad.stderr
