<?php
/**
 * What a real site's system cron does, once: run the due WP-Cron events (as wp-cron.php does), then Action
 * Scheduler's queue (native webhook deliveries, WooCommerce's background jobs).
 *   php cron.php ABSPATH
 *
 * @package Wooforce\Tests
 */

define( 'DOING_CRON', true );
$_SERVER['HTTP_HOST'] = parse_url( getenv( 'WOOFORCE_STORE_URL' ), PHP_URL_HOST ) . ':' . parse_url( getenv( 'WOOFORCE_STORE_URL' ), PHP_URL_PORT );
require $argv[1] . '/wp-load.php';

$wooforce_crons = wp_get_ready_cron_jobs();
foreach ( $wooforce_crons as $wooforce_timestamp => $wooforce_hooks ) {
	foreach ( $wooforce_hooks as $wooforce_hook => $wooforce_keys ) {
		foreach ( $wooforce_keys as $wooforce_k => $wooforce_v ) {
			$wooforce_schedule = $wooforce_v['schedule'];
			if ( $wooforce_schedule ) {
				wp_reschedule_event( $wooforce_timestamp, $wooforce_schedule, $wooforce_hook, $wooforce_v['args'] );
			}
			wp_unschedule_event( $wooforce_timestamp, $wooforce_hook, $wooforce_v['args'] );
			do_action_ref_array( $wooforce_hook, $wooforce_v['args'] );
		}
	}
}
if ( class_exists( 'ActionScheduler' ) ) {
	ActionScheduler::runner()->run( 'Wooforce test cron' );
}
