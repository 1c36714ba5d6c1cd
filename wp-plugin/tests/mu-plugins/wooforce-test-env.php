<?php
/**
 * Test environment: loads the WooCommerce stand-in unless a real WooCommerce is used
 * (WOOFORCE_REAL_WOOCOMMERCE=1). Only in the test WordPress (WPMU_PLUGIN_DIR points here).
 *
 * @package Wooforce\Tests
 */

defined( 'ABSPATH' ) || exit;

if ( ! getenv( 'WOOFORCE_REAL_WOOCOMMERCE' ) && ! wp_installing() ) {
	require_once dirname( __DIR__ ) . '/stubs/woocommerce-standin.php';
}

// End-to-end runs shorten the retry backoff (seconds) so a restarted collector is retried at once.
if ( false !== getenv( 'WOOFORCE_TEST_BACKOFF_S' ) ) {
	add_filter(
		'wooforce_backoff_s',
		static function () {
			return (int) getenv( 'WOOFORCE_TEST_BACKOFF_S' );
		}
	);
}
