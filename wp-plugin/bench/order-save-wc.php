<?php
/**
 * Time Wooforce adds to an order save in a real WordPress + WooCommerce (the real store of tests/store, or any
 * site), collector up and down. Like order-save.php, but the orders are real WooCommerce orders (HPOS or posts)
 * with $lines product lines, saved the way a checkout saves them (new WC_Order, items, totals, status, save()),
 * and delivery is scheduled as on a real site (Action Scheduler).
 *
 *   php wp-plugin/bench/order-save-wc.php WORDPRESS_DIR [saves=200] [lines=2]
 *   python wp-plugin/bench/real_store.py [--plugin DIR] [saves]   (builds the tests/store store and runs this)
 *
 * Wooforce must be active in that site. Per save, alternating with and without the plugin's hooks:
 *   plugin_ms     = time inside Wooforce's hook callbacks (each wrapped in a timer) + its shutdown
 *                   (spool write, scheduling): what the shopper waits for without PHP-FPM (mod_php, LiteSpeed);
 *   hooks_only_ms = the hook callbacks alone;
 *   save_with_ms / save_without_ms = the whole save (+ shutdown) with and without the plugin.
 * Delivery (Wooforce_Plugin::deliver(): build + send, never in the shopper's request) is timed separately. It runs
 * after every save here, so every save schedules a run again (the worst case: on a busy site one is on its way).
 * select1_ms = one SELECT 1 round trip after each save: the noise floor of this machine at that moment;
 * shutdown_cpu_ms = this PHP process's CPU time (user + system) in the plugin's shutdown: its own work, without the
 * time spent waiting for a CPU on a loaded machine (nor the database's time); shutdown_queries = its queries.
 *
 * @package Wooforce\Bench
 */

$wooforce_root = rtrim( $argv[1] ?? '', '/' );
if ( ! is_file( "$wooforce_root/wp-load.php" ) ) {
	fwrite( STDERR, "usage: php order-save-wc.php WORDPRESS_DIR [saves] [lines]\n" );
	exit( 2 );
}
$_SERVER['HTTP_HOST'] = parse_url( getenv( 'WOOFORCE_STORE_URL' ) ?: 'http://localhost', PHP_URL_HOST ) . ( parse_url( getenv( 'WOOFORCE_STORE_URL' ) ?: '', PHP_URL_PORT ) ? ':' . parse_url( getenv( 'WOOFORCE_STORE_URL' ), PHP_URL_PORT ) : '' );
require "$wooforce_root/wp-load.php";
if ( ! class_exists( 'Wooforce_Plugin' ) || ! class_exists( 'WC_Order' ) ) {
	fwrite( STDERR, "Wooforce and WooCommerce must both be active in $wooforce_root\n" );
	exit( 2 );
}

add_filter( 'pre_wp_mail', '__return_false' ); // The order e-mails: no mail transport here, and not what is measured.
$saves  = isset( $argv[2] ) ? max( 10, (int) $argv[2] ) : 200;
$lines  = isset( $argv[3] ) ? max( 1, (int) $argv[3] ) : 2;
$plugin = Wooforce_Plugin::instance();

$hook_s = 0.0;

/**
 * The plugin's callbacks on/off. "On" registers each of them wrapped in a timer (only Wooforce's own code is timed:
 * WooCommerce has callbacks of its own on the same hooks), with the arguments register_hooks() asks for.
 */
function wooforce_bench_toggle( $plugin, $on ) {
	static $wrappers = null;
	global $hook_s;
	$callbacks = array();
	foreach ( array_keys( Wooforce_Plugin::ENTITY_HOOKS ) as $hook ) {
		$callbacks[] = array( $hook, 'on_entity_hook', 2 );
	}
	foreach ( array_keys( Wooforce_Plugin::POST_HOOKS ) as $hook ) {
		$callbacks[] = array( $hook, 'on_post_hook', 1 );
	}
	foreach ( array_keys( Wooforce_Plugin::CUSTOMER_HOOKS ) as $hook ) {
		$callbacks[] = array( $hook, 'on_customer_hook', 1 );
	}
	$callbacks[] = array( 'deleted_user', 'on_deleted_user', 1 );
	$callbacks[] = array( 'woocommerce_delete_customer', 'on_deleted_user', 1 );
	$callbacks[] = array( 'woocommerce_order_status_changed', 'on_order_status_changed', 3 );
	if ( null === $wrappers ) { // First call: take the plugin's own registrations off.
		$wrappers = array();
		foreach ( $callbacks as list( $hook, $method, $n ) ) {
			remove_action( $hook, array( $plugin, $method ), 10 );
			$wrappers[ "$hook $method" ] = static function ( ...$args ) use ( $plugin, $method ) {
				global $hook_s;
				$t = microtime( true );
				$plugin->$method( ...$args );
				$hook_s += microtime( true ) - $t;
			};
		}
	}
	foreach ( $callbacks as list( $hook, $method, $n ) ) {
		remove_action( $hook, $wrappers[ "$hook $method" ], 10 );
		if ( $on ) {
			add_action( $hook, $wrappers[ "$hook $method" ], 10, $n );
		}
	}
}

function wooforce_bench_cpu_ms() {
	$r = getrusage();
	return ( $r['ru_utime.tv_sec'] + $r['ru_stime.tv_sec'] ) * 1000 + ( $r['ru_utime.tv_usec'] + $r['ru_stime.tv_usec'] ) / 1000;
}

function wooforce_bench_pct( array $values, $p ) {
	sort( $values );
	return round( $values[ (int) min( count( $values ) - 1, floor( $p / 100 * count( $values ) ) ) ], 3 );
}

function wooforce_bench_port() {
	$sock = stream_socket_server( 'tcp://127.0.0.1:0' );
	$name = stream_socket_get_name( $sock, false );
	fclose( $sock );
	return (int) substr( strrchr( $name, ':' ), 1 );
}

// Products for the lines (made once, kept for the next runs).
$products = get_option( 'wooforce_bench_products', array() );
for ( $i = count( $products ); $i < $lines; $i++ ) {
	$product = new WC_Product_Simple();
	$product->set_props( array( 'name' => "Bench product $i", 'sku' => "BENCH-$i", 'regular_price' => '9.99', 'manage_stock' => false ) );
	$products[] = $product->save();
}
update_option( 'wooforce_bench_products', $products, false );
$products = array_map( 'wc_get_product', array_slice( $products, 0, $lines ) );

// Fake collector: accepts every event.
$router = tempnam( sys_get_temp_dir(), 'wfr' ) . '.php';
file_put_contents( $router, '<?php $b = json_decode( file_get_contents( "php://input" ), true ); $r = array(); foreach ( (array) ( $b["events"] ?? array() ) as $e ) { $r[] = array( "id" => $e["id"], "status" => "accepted", "event_id" => "evt_" . md5( $e["id"] ) ); } http_response_code( 202 ); header( "Content-Type: application/json" ); echo json_encode( array( "accepted" => count( $r ), "duplicates" => 0, "results" => $r ) );' );
$up_port = wooforce_bench_port();
$server  = proc_open( array( PHP_BINARY, '-S', "127.0.0.1:$up_port", $router ), array( array( 'pipe', 'r' ), array( 'file', '/dev/null', 'w' ), array( 'file', '/dev/null', 'w' ) ), $pipes );
for ( $i = 0; $i < 50 && ! @fsockopen( '127.0.0.1', $up_port ); $i++ ) { // phpcs:ignore
	usleep( 50000 );
}
add_filter( 'http_allowed_safe_ports', static function ( $ports ) use ( $up_port ) { $ports[] = $up_port; return $ports; } ); // phpcs:ignore

global $wpdb;
$saved_settings = get_option( Wooforce_Settings::OPTION );
$created        = array();
$report         = array( 'saves' => $saves, 'lines' => $lines, 'wordpress' => get_bloginfo( 'version' ), 'woocommerce' => WC()->version, 'hpos' => get_option( 'woocommerce_custom_orders_table_enabled' ), 'php' => PHP_VERSION, 'delivery_mode' => apply_filters( 'wooforce_delivery_mode', function_exists( 'as_enqueue_async_action' ) ? 'action_scheduler' : 'cron' ) );

foreach ( array( 'up' => $up_port, 'down' => wooforce_bench_port() ) as $label => $port ) {
	Wooforce_Settings::save( array( 'collector_url' => "http://127.0.0.1:$port", 'store_id' => 'sto_bench', 'secret' => 'whsec_' . base64_encode( random_bytes( 32 ) ), 'max_spool_rows' => 10000 ) );
	$wpdb->query( 'DELETE FROM ' . Wooforce_Spool::table() );
	$plugin_ms = $hooks_ms = $save_ms = $base_ms = $deliver_ms = $floor_ms = $queries = $cpu_ms = array();
	for ( $i = 0; $i < 2 * $saves; $i++ ) {
		$with = 0 === $i % 2;
		wooforce_bench_toggle( $plugin, $with );
		$GLOBALS['hook_s'] = 0.0;
		$t0                = microtime( true );
		$order  = new WC_Order();
		$order->set_billing_first_name( 'Bench' );
		$order->set_billing_last_name( 'Shopper' );
		$order->set_billing_email( 'bench@example.com' );
		foreach ( $products as $product ) {
			$order->add_product( $product, 1 );
		}
		$order->calculate_totals();
		$order->set_status( 'processing' );
		$created[] = $order->save();
		$t_shut    = microtime( true );
		$q0 = $wpdb->num_queries;
		$c0 = wooforce_bench_cpu_ms();
		if ( $with ) {
			$plugin->on_shutdown(); // What WordPress runs at shutdown.
		}
		$t1 = microtime( true );
		if ( $with ) {
			$cpu_ms[]  = wooforce_bench_cpu_ms() - $c0;
			$queries[] = $wpdb->num_queries - $q0;
			$f0        = microtime( true );
			$wpdb->get_var( 'SELECT 1' ); // The noise floor: one database round trip on this machine, now.
			$floor_ms[] = ( microtime( true ) - $f0 ) * 1000;
		}
		if ( $with ) {
			$plugin_ms[] = ( $GLOBALS['hook_s'] + ( $t1 - $t_shut ) ) * 1000;
			$hooks_ms[]  = $GLOBALS['hook_s'] * 1000;
			$save_ms[]   = ( $t1 - $t0 ) * 1000;
			$d0          = microtime( true );
			Wooforce_Plugin::deliver(); // The async run (Action Scheduler / WP-Cron), after the response.
			$deliver_ms[] = ( microtime( true ) - $d0 ) * 1000;
		} else {
			$base_ms[] = ( $t1 - $t0 ) * 1000;
		}
	}
	wooforce_bench_toggle( $plugin, true );
	$counts           = Wooforce_Spool::counts();
	$report[ $label ] = array(
		'plugin_ms_p50'       => wooforce_bench_pct( $plugin_ms, 50 ),
		'plugin_ms_p95'       => wooforce_bench_pct( $plugin_ms, 95 ),
		'hooks_only_ms_p50'   => wooforce_bench_pct( $hooks_ms, 50 ),
		'hooks_only_ms_p95'   => wooforce_bench_pct( $hooks_ms, 95 ),
		'save_with_ms_p50'    => wooforce_bench_pct( $save_ms, 50 ),
		'save_with_ms_p95'    => wooforce_bench_pct( $save_ms, 95 ),
		'save_without_ms_p50' => wooforce_bench_pct( $base_ms, 50 ),
		'save_without_ms_p95' => wooforce_bench_pct( $base_ms, 95 ),
		'delivery_ms_p50'     => wooforce_bench_pct( $deliver_ms, 50 ),
		'delivery_ms_p95'     => wooforce_bench_pct( $deliver_ms, 95 ),
		'shutdown_cpu_ms_p50'  => wooforce_bench_pct( $cpu_ms, 50 ),
		'shutdown_cpu_ms_p95'  => wooforce_bench_pct( $cpu_ms, 95 ),
		'shutdown_queries_p50' => wooforce_bench_pct( $queries, 50 ),
		'shutdown_queries_max' => max( $queries ),
		'select1_ms_p50'      => wooforce_bench_pct( $floor_ms, 50 ),
		'select1_ms_p95'      => wooforce_bench_pct( $floor_ms, 95 ),
		'spool_after'         => $counts['queued'],
	);
}

// Clean up: the orders, the spool, the settings, the fake collector.
wooforce_bench_toggle( $plugin, false );
foreach ( $created as $id ) {
	$order = wc_get_order( $id );
	if ( $order ) {
		$order->delete( true );
	}
}
$plugin->recorder = new Wooforce_Recorder();
$wpdb->query( 'DELETE FROM ' . Wooforce_Spool::table() );
delete_option( Wooforce_Settings::STATUS_OPTION );
if ( function_exists( 'as_unschedule_all_actions' ) ) {
	as_unschedule_all_actions( '', array(), Wooforce_Plugin::AS_GROUP );
}
update_option( Wooforce_Settings::OPTION, $saved_settings, false );
$status = proc_get_status( $server );
posix_kill( $status['pid'], SIGTERM );
proc_close( $server );
unlink( $router );

echo wp_json_encode( $report, JSON_PRETTY_PRINT ), "\n";
