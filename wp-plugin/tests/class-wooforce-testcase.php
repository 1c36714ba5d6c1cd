<?php
/**
 * Base test case: each test runs in a database transaction that is rolled back, with HTTP
 * intercepted (pre_http_request), wp_die() and redirects turned into exceptions.
 *
 * @package Wooforce\Tests
 */

use PHPUnit\Framework\TestCase;

/**
 * Thrown instead of wp_die().
 */
class Wooforce_Test_Die extends Exception {}

/**
 * Thrown instead of a redirect (so handlers never reach exit).
 */
class Wooforce_Test_Redirect extends Exception {}

/**
 * Shared helpers.
 */
abstract class Wooforce_TestCase extends TestCase {

	const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

	/**
	 * Requests seen by the fake collector: url, headers, body.
	 *
	 * @var array[]
	 */
	protected $requests = array();

	/**
	 * Queued fake responses (array or WP_Error); a callable builds one from the request.
	 *
	 * @var array
	 */
	protected $responses = array();

	protected function setUp(): void {
		global $wpdb;
		wp_cache_flush();
		$wpdb->query( 'SET autocommit = 0' );
		$wpdb->query( 'START TRANSACTION' );
		$wpdb->query( 'DELETE FROM ' . Wooforce_Spool::table() );
		Wooforce_Plugin::instance()->recorder = new Wooforce_Recorder();
		Wooforce_Settings::save(
			array(
				'collector_url'  => 'http://127.0.0.1:9',
				'store_id'       => 'sto_test',
				'secret'         => self::SECRET,
				'max_spool_rows' => 10000,
			)
		);
		delete_option( Wooforce_Settings::STATUS_OPTION );
		$this->requests  = array();
		$this->responses = array();
		add_filter( 'pre_http_request', array( $this, 'fake_http' ), 10, 3 );
		add_filter( 'wp_die_handler', array( $this, 'die_handler' ) );
		add_filter( 'wp_redirect', array( $this, 'redirect_handler' ) );
		add_filter( 'wooforce_delivery_mode', array( $this, 'no_delivery' ) );
	}

	protected function tearDown(): void {
		global $wpdb;
		Wooforce_Plugin::instance()->recorder = new Wooforce_Recorder();
		$wpdb->query( 'ROLLBACK' );
		$wpdb->query( 'SET autocommit = 1' );
		remove_filter( 'pre_http_request', array( $this, 'fake_http' ), 10 );
		remove_filter( 'wp_die_handler', array( $this, 'die_handler' ) );
		remove_filter( 'wp_redirect', array( $this, 'redirect_handler' ) );
		remove_filter( 'wooforce_delivery_mode', array( $this, 'no_delivery' ) );
		wp_set_current_user( 0 );
		$_POST    = array();
		$_REQUEST = array();
		wp_cache_flush();
	}

	public function no_delivery() {
		return 'none';
	}

	public function fake_http( $pre, $args, $url ) {
		$headers          = array_change_key_case( $args['headers'], CASE_LOWER );
		$this->requests[] = array( 'url' => $url, 'headers' => $headers, 'body' => $args['body'], 'timeout' => $args['timeout'] );
		$next             = array_shift( $this->responses );
		if ( null === $next ) {
			$this->fail( 'Unexpected HTTP request to ' . $url );
		}
		return is_callable( $next ) ? $next( json_decode( $args['body'], true ) ) : $next;
	}

	public function die_handler() {
		return static function ( $message ) {
			throw new Wooforce_Test_Die( is_string( $message ) ? $message : 'wp_die' );
		};
	}

	public function redirect_handler( $location ) {
		throw new Wooforce_Test_Redirect( $location );
	}

	/**
	 * A fake response.
	 */
	protected static function response( $status, $body = null, array $headers = array() ) {
		return array(
			'headers'  => array_change_key_case( $headers, CASE_LOWER ),
			'body'     => null === $body ? '' : ( is_string( $body ) ? $body : wp_json_encode( $body ) ),
			'response' => array( 'code' => $status, 'message' => '' ),
			'cookies'  => array(),
			'filename' => null,
		);
	}

	/**
	 * The collector's 202: every event of the request accepted.
	 */
	protected function accept_all() {
		return static function ( $request ) {
			$results = array();
			foreach ( $request['events'] as $event ) {
				$results[] = array( 'id' => $event['id'], 'status' => 'accepted', 'event_id' => 'evt_' . md5( $event['id'] ) );
			}
			return self::response( 202, array( 'accepted' => count( $results ), 'duplicates' => 0, 'results' => $results ) );
		};
	}

	/**
	 * Spool rows, oldest first.
	 */
	protected function spool( $status = null ) {
		global $wpdb;
		$table = Wooforce_Spool::table();
		$where = $status ? $wpdb->prepare( ' WHERE status = %s', $status ) : '';
		return $wpdb->get_results( "SELECT * FROM {$table}{$where} ORDER BY id", ARRAY_A );
	}

	/**
	 * "type:resource_id" of each spool row.
	 */
	protected function spooled_events() {
		return array_map(
			static function ( $row ) {
				return $row['type'] . ':' . $row['resource_id'];
			},
			$this->spool()
		);
	}

	/**
	 * Spool $n events directly (order.updated for ids 1..n unless given).
	 */
	protected function spool_events( $n, $kind = 'order', $first_id = 1 ) {
		$events = array();
		for ( $i = 0; $i < $n; $i++ ) {
			$id       = $first_id + $i;
			$event_id = 'wp_' . wp_generate_uuid4();
			$events[] = array(
				'event_id'    => $event_id,
				'type'        => $kind . '.updated',
				'resource_id' => $id,
				'payload'     => wp_json_encode( array( 'id' => $event_id, 'type' => $kind . '.updated', 'occurred_at' => '2026-11-22T15:35:24Z', 'resource_id' => $id, 'data' => array( 'id' => $id ) ) ),
			);
		}
		Wooforce_Spool::insert( $events );
		return $events;
	}

	/**
	 * Fire the request's end (what WordPress does at shutdown).
	 */
	protected function end_request() {
		Wooforce_Plugin::instance()->on_shutdown();
	}

	// -- the settings page --

	const RESOURCES_ALL = array( 'orders', 'products', 'customers' );

	/**
	 * The collector's answer to a signed ping.
	 */
	protected function pong( $name = 'Rig Shop' ) {
		return self::response( 200, array( 'ok' => true, 'store_id' => 'sto_new', 'store_name' => $name, 'server_time' => '2026-11-22T15:35:24Z' ) );
	}

	/**
	 * The collector's /health answer; $over replaces checks by id.
	 */
	protected function health_response( array $over = array(), $connected = false ) {
		$checks = array(
			'signature'        => array( 'id' => 'signature', 'status' => 'ok' ),
			'salesforce'       => array( 'id' => 'salesforce', 'status' => 'not_configured' ),
			'woocommerce_keys' => array( 'id' => 'woocommerce_keys', 'status' => 'not_configured' ),
			'webhooks'         => array( 'id' => 'webhooks', 'status' => 'not_configured', 'last_event_at' => null ),
			'delivery'         => array( 'id' => 'delivery', 'status' => 'waiting', 'backlog' => 2, 'dead' => 0, 'last_delivered_at' => null, 'oldest_waiting_s' => 30 ),
		);
		foreach ( $over as $id => $check ) {
			$checks[ $id ] = array_merge( array( 'id' => $id ), $check );
		}
		return self::response( 200, array( 'ok' => true, 'store_id' => 'sto_test', 'store_name' => 'Rig Shop', 'connected' => $connected, 'checks' => array_values( $checks ), 'server_time' => '2026-11-22T15:35:24Z' ) );
	}

	/**
	 * The settings page's HTML, the collector answering with $responses.
	 */
	protected function render_page( array $responses = array() ) {
		$this->responses = array_merge( $this->responses, $responses );
		ob_start();
		try {
			Wooforce_Plugin::instance()->admin->render();
		} finally {
			$html = ob_get_clean();
		}
		return $html;
	}

	protected function login( $role ) {
		$id = wp_insert_user( array( 'user_login' => $role . wp_rand(), 'user_email' => $role . wp_rand() . '@example.com', 'user_pass' => 'x', 'role' => $role ) );
		wp_set_current_user( $id );
		return $id;
	}

	protected function post( $action, array $fields, $nonce = null ) {
		$_POST                = $fields;
		$_POST['_wpnonce']    = null === $nonce ? wp_create_nonce( $action ) : $nonce;
		$_REQUEST             = $_POST;
		try {
			do_action( 'admin_post_' . $action );
		} catch ( Wooforce_Test_Redirect $redirect ) {
			$this->assertSame( admin_url( 'admin.php?page=wooforce' ), $redirect->getMessage() );
			return get_transient( 'wooforce_notice_' . get_current_user_id() );
		}
		$this->fail( 'handler neither redirected nor died' );
	}
}
