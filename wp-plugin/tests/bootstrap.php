<?php
/**
 * PHPUnit bootstrap: loads a real WordPress (Debian's core, /usr/share/wordpress) on the real MariaDB
 * test database prepared by tests/setup-env.sh, with Wooforce active as a normal plugin and, since
 * WooCommerce is not packaged in Debian, the WooCommerce stand-in (tests/stubs/woocommerce-standin.php)
 * loaded as a must-use plugin.
 *
 * @package Wooforce\Tests
 */

require __DIR__ . '/wp-tests-config.php';
require ABSPATH . 'wp-settings.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';
require_once __DIR__ . '/class-wooforce-testcase.php';

if ( ! class_exists( 'Wooforce_Plugin' ) ) {
	fwrite( STDERR, "Wooforce is not active in the test WordPress: run wp-plugin/tests/setup-env.sh first.\n" );
	exit( 1 );
}
