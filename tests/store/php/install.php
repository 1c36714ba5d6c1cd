<?php
/**
 * Install the throwaway store, one step per PHP process (activation needs a fresh load):
 *   php install.php ABSPATH core                  wp_install(), pretty permalinks
 *   php install.php ABSPATH woocommerce           activate_plugin('woocommerce/woocommerce.php')
 *   php install.php ABSPATH wc-install CK CS      WC_Install::install(), HPOS on, a read_write REST key
 *   php install.php ABSPATH wooforce              activate_plugin('wooforce/wooforce.php')
 *
 * @package Wooforce\Tests
 */

$wooforce_root = $argv[1];
$wooforce_step = $argv[2];
if ( 'core' === $wooforce_step ) {
	define( 'WP_INSTALLING', true );
}
$_SERVER['HTTP_HOST'] = parse_url( getenv( 'WOOFORCE_STORE_URL' ), PHP_URL_HOST ) . ':' . parse_url( getenv( 'WOOFORCE_STORE_URL' ), PHP_URL_PORT );
require $wooforce_root . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';

switch ( $wooforce_step ) {
	case 'core':
		wp_install( 'Wooforce real store', 'admin', 'admin@example.com', false, '', 'not-a-real-password' );
		update_option( 'permalink_structure', '/%postname%/' );
		update_option( 'timezone_string', 'UTC' );
		break;
	case 'woocommerce':
	case 'wooforce':
		$wooforce_result = activate_plugin( "$wooforce_step/$wooforce_step.php" );
		if ( is_wp_error( $wooforce_result ) ) {
			fwrite( STDERR, $wooforce_result->get_error_message() . "\n" );
			exit( 1 );
		}
		break;
	case 'wc-install':
		WC_Install::install();
		update_option( 'woocommerce_custom_orders_table_enabled', 'yes' );
		update_option( 'woocommerce_custom_orders_table_data_sync_enabled', 'no' );
		update_option( 'woocommerce_coming_soon', 'no' );
		update_option( 'woocommerce_onboarding_profile', array( 'skipped' => true ) );
		update_option( 'woocommerce_allow_tracking', 'no' );
		update_option( 'woocommerce_currency', 'USD' );
		update_option( 'woocommerce_default_country', 'US:CA' );
		global $wpdb;
		$wpdb->insert(
			$wpdb->prefix . 'woocommerce_api_keys',
			array(
				'user_id'         => 1,
				'description'     => 'Wooforce tests',
				'permissions'     => 'read_write',
				'consumer_key'    => wc_api_hash( $argv[3] ),
				'consumer_secret' => $argv[4],
				'truncated_key'   => substr( $argv[3], -7 ),
			)
		);
		flush_rewrite_rules();
		break;
	default:
		fwrite( STDERR, "unknown step $wooforce_step\n" );
		exit( 2 );
}
echo "$wooforce_step: ok\n";
