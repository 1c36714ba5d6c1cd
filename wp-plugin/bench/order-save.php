<?php
/**
 * Time Wooforce adds to an order save, inside the test WordPress (real core, real MariaDB,
 * WooCommerce stand-in: one save = woocommerce_new_order + 3 x woocommerce_update_order +
 * woocommerce_order_status_changed, as in the fixture traces), collector up and down.
 *
 *   php wp-plugin/bench/order-save.php [saves=200] [lines=2]
 *
 * Per save (one simulated request), alternating with and without the plugin's hooks:
 *   plugin_ms  = time inside Wooforce's hook callbacks + its shutdown spool write and scheduling
 *                (timers at priority 9 / 11 around the plugin's priority 10 callbacks): what the shopper
 *                waits for without PHP-FPM (mod_php, CLI);
 *   hooks_only = the hook callbacks alone: what the shopper waits for under PHP-FPM, where the plugin
 *                calls fastcgi_finish_request() before building and spooling;
 *   save_ms    = the whole save (+ shutdown) with the plugin, base_ms = the same save without it.
 * Delivery (after the response, never in the shopper's request) is timed separately. shutdown_cpu_ms: this process's
 * CPU time in the plugin's shutdown (its own work, without waiting for a CPU on a loaded machine); shutdown_queries.
 * "Up" is a local fake collector (php -S on 127.0.0.1) answering 202; "down" a closed port.
 *
 * @package Wooforce\Bench
 */

require dirname( __DIR__ ) . '/tests/wp-tests-config.php';
require ABSPATH . 'wp-settings.php';

$saves  = isset( $argv[1] ) ? max( 10, (int) $argv[1] ) : 200;
$lines  = isset( $argv[2] ) ? max( 1, (int) $argv[2] ) : 2;
$items  = array();
for ( $l = 1; $l <= $lines; $l++ ) { // Line items shaped like WooCommerce's REST line_items.
	$items[] = array( 'id' => $l, 'name' => "Product $l", 'product_id' => 20 + $l, 'variation_id' => 0, 'quantity' => 1 + $l % 3, 'tax_class' => '', 'subtotal' => '9.99', 'subtotal_tax' => '0.00', 'total' => '9.99', 'total_tax' => '0.00', 'taxes' => array(), 'meta_data' => array(), 'sku' => "SKU-$l", 'price' => 9.99, 'image' => array( 'id' => '', 'src' => '' ), 'parent_name' => null );
}
$plugin = Wooforce_Plugin::instance();
$hooks  = array_merge( array_keys( Wooforce_Plugin::ENTITY_HOOKS ), array( 'woocommerce_order_status_changed' ) );

// Timers around the plugin's own callbacks.
$hook_s  = 0.0;
$started = 0.0;
foreach ( $hooks as $hook ) {
	add_action( $hook, static function ( $x = null ) use ( &$started ) { $started = microtime( true ); return $x; }, 9 );
	add_action( $hook, static function ( $x = null ) use ( &$started, &$hook_s ) { $hook_s += microtime( true ) - $started; return $x; }, 11 );
}
add_filter( 'wooforce_delivery_mode', static function () { return 'cron'; } ); // No Action Scheduler, no PHP-FPM in CLI.

/**
 * Plugin hooks on/off (the plugin's callbacks only).
 */
function wooforce_bench_toggle( $plugin, $on ) {
	foreach ( array_keys( Wooforce_Plugin::ENTITY_HOOKS ) as $hook ) {
		$on ? add_action( $hook, array( $plugin, 'on_entity_hook' ), 10, 2 ) : remove_action( $hook, array( $plugin, 'on_entity_hook' ), 10 );
	}
	$on ? add_action( 'woocommerce_order_status_changed', array( $plugin, 'on_order_status_changed' ), 10, 3 ) : remove_action( 'woocommerce_order_status_changed', array( $plugin, 'on_order_status_changed' ), 10 );
}

function wooforce_bench_cpu_ms() {
	$r = getrusage();
	return ( $r['ru_utime.tv_sec'] + $r['ru_stime.tv_sec'] ) * 1000 + ( $r['ru_utime.tv_usec'] + $r['ru_stime.tv_usec'] ) / 1000;
}

function wooforce_bench_pct( array $values, $p ) {
	sort( $values );
	return $values[ (int) min( count( $values ) - 1, floor( $p / 100 * count( $values ) ) ) ];
}

function wooforce_bench_port() {
	$sock = stream_socket_server( 'tcp://127.0.0.1:0' );
	$name = stream_socket_get_name( $sock, false );
	fclose( $sock );
	return (int) substr( strrchr( $name, ':' ), 1 );
}

// Fake collector: accepts every event.
$router = tempnam( sys_get_temp_dir(), 'wfr' ) . '.php';
file_put_contents( $router, '<?php $b = json_decode( file_get_contents( "php://input" ), true ); $r = array(); foreach ( (array) ( $b["events"] ?? array() ) as $e ) { $r[] = array( "id" => $e["id"], "status" => "accepted", "event_id" => "evt_" . md5( $e["id"] ) ); } http_response_code( 202 ); header( "Content-Type: application/json" ); echo json_encode( array( "accepted" => count( $r ), "duplicates" => 0, "results" => $r ) );' );
$up_port = wooforce_bench_port();
$server  = proc_open( array( PHP_BINARY, '-S', "127.0.0.1:$up_port", $router ), array( array( 'pipe', 'r' ), array( 'file', '/dev/null', 'w' ), array( 'file', '/dev/null', 'w' ) ), $pipes );
for ( $i = 0; $i < 50 && ! @fsockopen( '127.0.0.1', $up_port ); $i++ ) { // phpcs:ignore
	usleep( 50000 );
}

global $wpdb;
$saved_settings = get_option( Wooforce_Settings::OPTION );
$created        = array();
$report         = array( 'saves' => $saves, 'lines' => $lines, 'wordpress' => get_bloginfo( 'version' ), 'php' => PHP_VERSION );

foreach ( array( 'up' => $up_port, 'down' => wooforce_bench_port() ) as $label => $port ) {
	Wooforce_Settings::save( array( 'collector_url' => "http://127.0.0.1:$port", 'store_id' => 'sto_bench', 'secret' => 'whsec_' . base64_encode( random_bytes( 32 ) ), 'max_spool_rows' => 10000 ) );
	$wpdb->query( 'DELETE FROM ' . Wooforce_Spool::table() );
	$plugin_ms = $hooks_ms = $save_ms = $base_ms = $deliver_ms = $cpu_ms = $queries = array();
	for ( $i = 0; $i < 2 * $saves; $i++ ) {
		$with = 0 === $i % 2;
		wooforce_bench_toggle( $plugin, $with );
		$hook_s = 0.0;
		$t0     = microtime( true );
		$order  = new WC_Order();
		$order->set_props( array( 'total' => '19.99', 'line_items' => $items ) );
		$order->set_status( 'processing' );
		$created[] = $order->save();
		$t_shut    = microtime( true );
		$c0        = wooforce_bench_cpu_ms();
		$q0        = $wpdb->num_queries;
		if ( $with ) {
			$plugin->on_shutdown(); // What WordPress runs at shutdown.
		}
		$t1 = microtime( true );
		if ( $with ) {
			$cpu_ms[]    = wooforce_bench_cpu_ms() - $c0;
			$queries[]   = $wpdb->num_queries - $q0;
			$plugin_ms[] = ( $hook_s + ( $t1 - $t_shut ) ) * 1000;
			$hooks_ms[]  = $hook_s * 1000;
			$save_ms[]   = ( $t1 - $t0 ) * 1000;
			$d0          = microtime( true );
			Wooforce_Sender::run(); // After the response (WP-Cron / Action Scheduler / fastcgi_finish_request).
			$deliver_ms[] = ( microtime( true ) - $d0 ) * 1000;
		} else {
			$base_ms[] = ( $t1 - $t0 ) * 1000;
		}
	}
	wooforce_bench_toggle( $plugin, true );
	$counts           = Wooforce_Spool::counts();
	$report[ $label ] = array(
		'plugin_ms_p50'   => round( wooforce_bench_pct( $plugin_ms, 50 ), 3 ),
		'plugin_ms_p95'   => round( wooforce_bench_pct( $plugin_ms, 95 ), 3 ),
		'hooks_only_ms_p50'   => round( wooforce_bench_pct( $hooks_ms, 50 ), 3 ),
		'hooks_only_ms_p95'   => round( wooforce_bench_pct( $hooks_ms, 95 ), 3 ),
		'save_with_ms_p50'    => round( wooforce_bench_pct( $save_ms, 50 ), 3 ),
		'save_with_ms_p95'    => round( wooforce_bench_pct( $save_ms, 95 ), 3 ),
		'save_without_ms_p50' => round( wooforce_bench_pct( $base_ms, 50 ), 3 ),
		'save_without_ms_p95' => round( wooforce_bench_pct( $base_ms, 95 ), 3 ),
		'shutdown_cpu_ms_p50' => round( wooforce_bench_pct( $cpu_ms, 50 ), 3 ),
		'shutdown_cpu_ms_p95' => round( wooforce_bench_pct( $cpu_ms, 95 ), 3 ),
		'shutdown_queries_p50' => wooforce_bench_pct( $queries, 50 ),
		'delivery_ms_p50'     => round( wooforce_bench_pct( $deliver_ms, 50 ), 3 ),
		'delivery_ms_p95'     => round( wooforce_bench_pct( $deliver_ms, 95 ), 3 ),
		'spool_after'         => $counts['queued'],
	);
}

// Clean up: the orders, the spool, the settings, the fake collector.
foreach ( array_chunk( $created, 500 ) as $chunk ) {
	$wpdb->query( "DELETE FROM {$wpdb->posts} WHERE ID IN (" . implode( ',', array_map( 'intval', $chunk ) ) . ')' );
}
$wpdb->query( 'DELETE FROM ' . Wooforce_Spool::table() );
delete_option( Wooforce_Settings::STATUS_OPTION );
wp_clear_scheduled_hook( Wooforce_Plugin::DELIVER_HOOK );
update_option( Wooforce_Settings::OPTION, $saved_settings, false );
$status = proc_get_status( $server );
posix_kill( $status['pid'], SIGTERM );
proc_close( $server );
unlink( $router );

echo wp_json_encode( $report, JSON_PRETTY_PRINT ), "\n";
