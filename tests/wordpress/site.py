"""A throwaway WordPress site served over HTTP, for installing the release zip as a store owner would.

A copy of Debian's WordPress core (/usr/share/wordpress, without Debian's wp-config.php, which reads /etc) in a temp
directory with its own wp-config.php: the plugin test database of setup-env.sh under a table prefix of its own,
an empty plugins folder (the zip goes there), and a must-use plugin loading the WooCommerce stand-in (with a
WooCommerce menu for the plugin's page). PHP's built-in server serves it; WP-Cron is run by GET /wp-cron.php (what
a real site's system cron does), nothing runs behind the test's back.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.procs import free_port, http

from .conftest import PLUGIN_ROOT, WP_CORE

ADMIN_USER, ADMIN_PASSWORD = "owner", "owner-password-1"
STANDIN = PLUGIN_ROOT / "tests" / "stubs" / "woocommerce-standin.php"

WP_CONFIG = """<?php
define( 'DB_NAME', {db_name!r} );
define( 'DB_USER', {db_user!r} );
define( 'DB_PASSWORD', {db_password!r} );
define( 'DB_HOST', 'localhost:/run/mysqld/mysqld.sock' );
define( 'DB_CHARSET', 'utf8mb4' );
define( 'DB_COLLATE', '' );
$table_prefix = {prefix!r};
define( 'WP_HOME', {url!r} );
define( 'WP_SITEURL', {url!r} );
define( 'FS_METHOD', 'direct' );
define( 'DISABLE_WP_CRON', true );
define( 'WP_DEBUG', true );
define( 'WP_DEBUG_LOG', {debug_log!r} );
define( 'WP_DEBUG_DISPLAY', false );
define( 'AUTOMATIC_UPDATER_DISABLED', true );
define( 'WP_HTTP_BLOCK_EXTERNAL', true );
define( 'WP_ACCESSIBLE_HOSTS', '127.0.0.1,localhost' );
foreach ( array( 'AUTH_KEY', 'SECURE_AUTH_KEY', 'LOGGED_IN_KEY', 'NONCE_KEY', 'AUTH_SALT', 'SECURE_AUTH_SALT',
	'LOGGED_IN_SALT', 'NONCE_SALT' ) as $k ) {{
	define( $k, {salt!r} . $k );
}}
if ( PHP_SAPI === 'cli' ) {{
	$_SERVER['HTTP_HOST']   = {host!r};
	$_SERVER['SERVER_NAME'] = '127.0.0.1';
	$_SERVER['REQUEST_URI'] = $_SERVER['REQUEST_URI'] ?? '/';
}}
define( 'ABSPATH', __DIR__ . '/' );
require_once ABSPATH . 'wp-settings.php';
"""

MU_PLUGIN = """<?php
// The test site: WooCommerce stand-in (Debian packages no WooCommerce) with a WooCommerce menu, as WooCommerce has.
defined( 'ABSPATH' ) || exit;
if ( ! wp_installing() ) {{
	require_once {standin!r};
	add_action( 'admin_menu', static function () {{
		add_menu_page( 'WooCommerce', 'WooCommerce', 'manage_woocommerce', 'woocommerce', '__return_null', 'dashicons-cart', 55 );
	}}, 5 );
}}
"""

PHP_TOOL = r"""<?php
// php tool.php install | install-zip ZIP | save-order [STATUS] | state
$cmd = $argv[1] ?? '';
if ( 'install' === $cmd ) {
	define( 'WP_INSTALLING', true );
}
require __DIR__ . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';
$out = array();
switch ( $cmd ) {
	case 'install':
		if ( ! is_blog_installed() ) {
			wp_install( 'Rig Shop', getenv( 'SITE_ADMIN' ), 'owner@shop.test', false, '', getenv( 'SITE_PASSWORD' ) );
		}
		update_option( 'timezone_string', 'Europe/Berlin' );
		$out = array( 'installed' => is_blog_installed() );
		break;
	case 'install-zip':
		require_once ABSPATH . 'wp-admin/includes/file.php';
		require_once ABSPATH . 'wp-admin/includes/class-wp-upgrader.php';
		wp_set_current_user( 1 );
		WP_Filesystem();
		$upgrader = new Plugin_Upgrader( new Automatic_Upgrader_Skin() );
		$result   = $upgrader->install( $argv[2] );
		$active   = activate_plugin( 'wooforce/wooforce.php' );
		$data     = get_plugin_data( WP_PLUGIN_DIR . '/wooforce/wooforce.php', false, false );
		$out      = array(
			'installed' => true === $result,
			'errors'    => $upgrader->skin->get_upgrade_messages(),
			'activated' => null === $active,
			'version'   => $data['Version'],
			'plugin_uri' => $data['PluginURI'],
			'text_domain' => $data['TextDomain'],
		);
		break;
	case 'state':
		global $wpdb;
		$table = $wpdb->prefix . 'wooforce_spool';
		$out   = array(
			'active'  => is_plugin_active( 'wooforce/wooforce.php' ),
			'version' => defined( 'WOOFORCE_VERSION' ) ? WOOFORCE_VERSION : null,
			'spool'   => $table === $wpdb->get_var( $wpdb->prepare( 'SHOW TABLES LIKE %s', $table ) ),
			'counts'  => class_exists( 'Wooforce_Spool' ) ? Wooforce_Spool::counts() : null,
			'status'  => class_exists( 'Wooforce_Settings' ) ? Wooforce_Settings::status() : null,
		);
		break;
	case 'save-order':
		$order = new WC_Order();
		$order->set_props( array( 'total' => '42.50', 'billing' => array( 'first_name' => 'Ada', 'last_name' => 'Müller', 'email' => 'ada@shop.test' ) ) );
		$order->set_status( $argv[2] ?? 'processing' );
		$out = array( 'id' => $order->save() );
		break;
}
echo wp_json_encode( $out ), "\n";
"""


@dataclass
class Site:
    root: Path
    port: int
    prefix: str
    debug_log: Path
    proc: subprocess.Popen | None = None
    log: Path | None = None
    env: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def build(cls, tmp: Path) -> Site:
        root = tmp / "wordpress"
        shutil.copytree(WP_CORE, root, ignore=shutil.ignore_patterns("wp-config.php"), symlinks=False)
        plugins = root / "wp-content" / "plugins"
        shutil.rmtree(plugins)
        plugins.mkdir()
        (root / "wp-content" / "mu-plugins").mkdir(exist_ok=True)
        (root / "wp-content" / "upgrade").mkdir(exist_ok=True)
        port = free_port()
        site = cls(root=root, port=port, prefix=f"wf{secrets.token_hex(3)}_", debug_log=tmp / "debug.log")
        (root / "wp-config.php").write_text(WP_CONFIG.format(
            db_name=os.environ.get("WOOFORCE_WP_DB_NAME", "wooforce_wp_test"),
            db_user=os.environ.get("WOOFORCE_WP_DB_USER", "wooforce"),
            db_password=os.environ.get("WOOFORCE_WP_DB_PASSWORD", "wooforce"),
            prefix=site.prefix, url=site.url, host=f"127.0.0.1:{port}", debug_log=str(site.debug_log),
            salt=secrets.token_hex(16)))
        (root / "wp-content" / "mu-plugins" / "wooforce-site.php").write_text(MU_PLUGIN.format(standin=str(STANDIN)))
        (root / "tool.php").write_text(PHP_TOOL)
        site.env = {**os.environ, "SITE_ADMIN": ADMIN_USER, "SITE_PASSWORD": ADMIN_PASSWORD}
        site.php("install")
        return site

    def php(self, *args: str) -> dict:
        proc = subprocess.run(["php", str(self.root / "tool.php"), *args], capture_output=True, text=True,
                              timeout=120, env=self.env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        assert lines, proc.stdout + proc.stderr
        return json.loads(lines[-1])

    def serve(self) -> None:
        self.log = self.root.parent / "php-server.log"
        env = {**self.env, "PHP_CLI_SERVER_WORKERS": "4"}
        with self.log.open("ab") as out:  # (the child keeps its own copy of the descriptor)
            self.proc = subprocess.Popen(["php", "-S", f"127.0.0.1:{self.port}", "-t", str(self.root)], env=env,
                                         stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        with http() as s:
            while True:
                assert self.proc.poll() is None, self.log.read_text()[-2000:]
                try:
                    if s.get(f"{self.url}/wp-login.php", timeout=2).status_code == 200:
                        return
                except OSError:
                    pass
                assert time.monotonic() < deadline, "the site did not come up: " + self.log.read_text()[-2000:]
                time.sleep(0.1)  # readiness of another process: nothing to await but its port

    def run_cron(self) -> None:
        """What a real site's system cron does: due WP-Cron events (the plugin's delivery among them)."""
        with http() as s:
            assert s.get(f"{self.url}/wp-cron.php?doing_wp_cron", timeout=60).status_code == 200

    def plugin_problems(self) -> list[str]:
        text = self.debug_log.read_text() if self.debug_log.exists() else ""
        return [line for line in text.splitlines() if "wooforce" in line.lower()]

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.drop_tables()
        shutil.rmtree(self.root, ignore_errors=True)

    def drop_tables(self) -> None:
        sql = ("SELECT CONCAT('DROP TABLE `', table_name, '`;') FROM information_schema.tables "
               f"WHERE table_schema = DATABASE() AND table_name LIKE '{self.prefix}%'")
        db = os.environ.get("WOOFORCE_WP_DB_NAME", "wooforce_wp_test")
        drops = subprocess.run(["mariadb", "--socket=/run/mysqld/mysqld.sock", "-uroot", "-N", db, "-e", sql],
                               capture_output=True, text=True)
        if drops.stdout.strip():
            subprocess.run(["mariadb", "--socket=/run/mysqld/mysqld.sock", "-uroot", db, "-e", drops.stdout],
                           capture_output=True, text=True)


def build_zip(out: Path, *extra: str) -> Path:
    proc = subprocess.run([str(PLUGIN_ROOT / "bin" / "build-zip"), "--out", str(out), *extra], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out
