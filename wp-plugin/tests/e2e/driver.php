<?php
/**
 * End-to-end driver: each invocation is one WordPress request (CLI) in the test WordPress, with
 * Wooforce active and the WooCommerce stand-in; WordPress's shutdown hook runs at exit as usual.
 *
 * Commands (output: one JSON line):
 *   configure URL STORE_ID SECRET   save settings, empty the spool and the status
 *   save-order [STATUS]             create an order (one request, like POST /orders)
 *   update-order ID STATUS          change an order's status
 *   run-cron                        WordPress's own wp-cron.php runner (due events only)
 *   minute-passes                   the minute retry sweep (what WP-Cron runs every minute)
 *   state                           spool counts, spool rows, status
 *
 * @package Wooforce\Tests
 */

require dirname( __DIR__ ) . '/wp-tests-config.php';
require ABSPATH . 'wp-settings.php';

$wooforce_cmd = $argv[1] ?? '';
$wooforce_out = array();
switch ( $wooforce_cmd ) {
	case 'configure':
		Wooforce_Spool::install();
		$GLOBALS['wpdb']->query( 'DELETE FROM ' . Wooforce_Spool::table() );
		delete_option( Wooforce_Settings::STATUS_OPTION );
		delete_option( Wooforce_Sender::LOCK_OPTION );
		wp_clear_scheduled_hook( Wooforce_Plugin::DELIVER_HOOK );
		Wooforce_Settings::save( array( 'collector_url' => $argv[2], 'store_id' => $argv[3], 'secret' => $argv[4], 'max_spool_rows' => 10000 ) );
		$wooforce_out = array( 'ok' => true );
		break;
	case 'save-order':
		$order = new WC_Order();
		$order->set_props( array( 'total' => '19.99', 'billing' => array( 'last_name' => 'Müller', 'company' => 'A/B – C' ) ) );
		$order->set_status( $argv[2] ?? 'processing' );
		$wooforce_out = array( 'id' => $order->save() );
		break;
	case 'update-order':
		$order = wc_get_order( (int) $argv[2] );
		$order->set_status( $argv[3] );
		$wooforce_out = array( 'id' => $order->save() );
		break;
	case 'run-cron':
		echo wp_json_encode( array( 'ok' => true ) ), "\n";
		require ABSPATH . 'wp-cron.php'; // Runs the due events, then exits.
		exit( 0 );
	case 'minute-passes':
		do_action( Wooforce_Plugin::CRON_HOOK );
		$wooforce_out = array( 'ok' => true );
		break;
	case 'state':
		global $wpdb;
		$wooforce_out = array(
			'counts' => Wooforce_Spool::counts(),
			'rows'   => $wpdb->get_results( 'SELECT event_id, type, resource_id, attempts, status, last_error FROM ' . Wooforce_Spool::table() . ' ORDER BY id', ARRAY_A ),
			'status' => Wooforce_Settings::status(),
		);
		break;
	default:
		fwrite( STDERR, "unknown command\n" );
		exit( 2 );
}
echo wp_json_encode( $wooforce_out ), "\n";
