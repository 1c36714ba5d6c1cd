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
