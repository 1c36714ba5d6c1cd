<?php
/**
 * Install WordPress into the test database (idempotent), then activate Wooforce.
 * Usage: php install-wp.php            (install core if needed, in its own process)
 *        php install-wp.php activate   (activate the plugin: creates the spool table)
 *
 * @package Wooforce\Tests
 */

$wooforce_step = $argv[1] ?? 'install';
if ( 'install' === $wooforce_step ) {
	define( 'WP_INSTALLING', true );
}
require __DIR__ . '/wp-tests-config.php';
require ABSPATH . 'wp-settings.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';

if ( 'install' === $wooforce_step ) {
	if ( ! is_blog_installed() ) {
		wp_install( 'Wooforce test store', 'admin', 'admin@example.com', false, '', 'not-a-real-password' );
		echo "WordPress installed\n";
	}
	passthru( escapeshellarg( PHP_BINARY ) . ' ' . escapeshellarg( __FILE__ ) . ' activate', $code );
	exit( $code );
}
$result = activate_plugin( 'wooforce/wooforce.php' );
if ( is_wp_error( $result ) ) {
	fwrite( STDERR, $result->get_error_message() . "\n" );
	exit( 1 );
}
Wooforce_Spool::install();
echo "Wooforce active\n";
