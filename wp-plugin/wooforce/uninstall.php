<?php
/**
 * Removes everything Wooforce created: options, transients, the spool table and scheduled jobs.
 *
 * @package Wooforce
 */

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

global $wpdb;

foreach ( array( 'wooforce_settings', 'wooforce_status', 'wooforce_db_version', 'wooforce_delivery_lock', 'wooforce_spool_floor' ) as $wooforce_option ) {
	delete_option( $wooforce_option );
}
// Transients (settings-page notices) and any option left by an older version.
$wpdb->query( "DELETE FROM {$wpdb->options} WHERE option_name LIKE 'wooforce\\_%' OR option_name LIKE '\\_transient\\_wooforce\\_%' OR option_name LIKE '\\_transient\\_timeout\\_wooforce\\_%'" ); // phpcs:ignore WordPress.DB.DirectDatabaseQuery

$wpdb->query( "DROP TABLE IF EXISTS {$wpdb->prefix}wooforce_spool" ); // phpcs:ignore WordPress.DB.DirectDatabaseQuery

wp_clear_scheduled_hook( 'wooforce_deliver' );
wp_clear_scheduled_hook( 'wooforce_deliver_retry' );
if ( function_exists( 'as_unschedule_all_actions' ) ) {
	as_unschedule_all_actions( '', array(), 'wooforce' );
}
wp_cache_flush();
