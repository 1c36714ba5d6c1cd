<?php
/**
 * Sync buttons (issue 17): the entity's sync state on the order, product and user edit screens in each state, the
 * signed calls' shape, the few-seconds cache (and one call for a list), Sync now through admin-ajax with its
 * capability and per-entity nonce checks, and the settings page's store-wide state. Fake collector as elsewhere.
 *
 * @package Wooforce\Tests
 */

require_once ABSPATH . 'wp-admin/includes/template.php';

/**
 * Thrown instead of wp_die() inside admin-ajax.
 */
class Wooforce_Test_Ajax_Die extends Exception {}

/**
 * Sync buttons.
 */
class SyncButtonsTest extends Wooforce_TestCase {

	protected function setUp(): void {
		parent::setUp();
		add_filter( 'wp_doing_ajax', array( $this, 'doing_ajax' ) );
		add_filter( 'wp_die_ajax_handler', array( $this, 'ajax_die_handler' ) );
	}

	protected function tearDown(): void {
		remove_filter( 'wp_doing_ajax', array( $this, 'doing_ajax' ) );
		remove_filter( 'wp_die_ajax_handler', array( $this, 'ajax_die_handler' ) );
		parent::tearDown();
	}

	/**
	 * Whether the test is inside an admin-ajax call.
	 *
	 * @var bool
	 */
	private $in_ajax = false;

	/**
	 * The message of the last click's wp_die() ('-1': the nonce check refused it).
	 *
	 * @var string
	 */
	private $last_die = '';

	public function doing_ajax( $doing ) {
		return $this->in_ajax ? true : $doing;
	}

	public function ajax_die_handler() {
		return static function ( $message ) {
			throw new Wooforce_Test_Ajax_Die( is_scalar( $message ) ? (string) $message : '' );
		};
	}

	/**
	 * The collector's state of one entity.
	 */
	private static function state_of( $state, array $over = array() ) {
		return array_merge(
			array(
				'resource'     => 'order',
				'id'           => 12,
				'state'        => $state,
				'status'       => null,
				'sf_id'        => null,
				'delivered_at' => null,
				'attempts'     => 0,
				'retry_at'     => null,
				'error_code'   => null,
				'error'        => null,
				'errors'       => array(),
				'job'          => null,
			),
			$over
		);
	}

	private function box( $resource, $id, array $responses = array() ) {
		$this->responses = array_merge( $this->responses, $responses );
		ob_start();
		try {
			Wooforce_Plugin::instance()->sync_buttons->render( $resource, $id );
		} finally {
			$html = ob_get_clean();
		}
		return $html;
	}

	/**
	 * Sync now as the browser sends it; returns [status code seen by wp_send_json, decoded answer] or throws.
	 */
	private function click( array $fields ) {
		$_POST         = $fields;
		$_REQUEST      = $fields;
		$this->in_ajax = true;
		ob_start();
		try {
			do_action( 'wp_ajax_' . Wooforce_Sync_Buttons::AJAX_ACTION );
			$this->fail( 'the handler did not end the request' );
		} catch ( Wooforce_Test_Ajax_Die $die ) {
			$out = ob_get_clean();
			$this->last_die = $die->getMessage();
			return json_decode( $out, true );
		} finally {
			$this->in_ajax = false;
			if ( ob_get_level() > 1 ) {
				ob_end_clean();
			}
		}
	}

	private function new_order( $status = 'processing' ) {
		$order = new WC_Order();
		$order->set_status( $status );
		$id = $order->save();
		Wooforce_Plugin::instance()->recorder = new Wooforce_Recorder(); // nothing is sent in these tests
		return $id;
	}

	// -- rendering each state --------------------------------------------------------------------

	public function test_each_state_in_words() {
		$this->login( 'administrator' );
		$at   = '2026-11-22T15:40:00+00:00';
		$html = $this->box( 'order', 12, array( self::response( 200, self::state_of( 'synced', array( 'status' => 'delivered', 'sf_id' => '801000000000001AAA', 'delivered_at' => $at ) ) ) ) );
		$this->assertStringContainsString( 'data-state="synced"', $html );
		$this->assertStringContainsString( 'In Salesforce (sent ' . Wooforce_Admin::format_time( strtotime( $at ) ) . ')', $html );
		$this->assertStringContainsString( 'Salesforce record: 801000000000001AAA', $html );
		$this->assertStringContainsString( '>Sync now</button>', $html );
		$this->assertStringContainsString( 'href="http://127.0.0.1:9/console/outbox/sto_test/order/12"', $html );

		delete_transient( Wooforce_Sync_Buttons::cache_key( 'order', 12 ) );
		$html = $this->box( 'order', 12, array( self::response( 200, self::state_of( 'waiting', array( 'status' => 'pending' ) ) ) ) );
		$this->assertStringContainsString( 'Waiting to be sent to Salesforce', $html );

		delete_transient( Wooforce_Sync_Buttons::cache_key( 'order', 12 ) );
		$error = "REQUIRED_FIELD_MISSING: Required fields are missing: [EffectiveDate] <b>\nINVALID_FIELD: x";
		$html  = $this->box( 'order', 12, array( self::response( 200, self::state_of( 'waiting', array( 'status' => 'retrying', 'retry_at' => $at, 'error' => $error ) ) ) ) );
		$this->assertStringContainsString( 'Waiting: Salesforce did not take it yet', $html );
		$this->assertStringContainsString( 'tries again ' . Wooforce_Admin::format_time( strtotime( $at ) ), $html );
		$this->assertStringContainsString( "[EffectiveDate] &lt;b&gt;\nINVALID_FIELD: x</pre>", $html, 'the error as text, escaped' );
		$this->assertStringNotContainsString( '<b>', $html );

		delete_transient( Wooforce_Sync_Buttons::cache_key( 'order', 12 ) );
		$html = $this->box( 'order', 12, array( self::response( 200, self::state_of( 'failed', array( 'status' => 'dead', 'error' => 'DUPLICATE_VALUE: duplicate value found' ) ) ) ) );
		$this->assertMatchesRegularExpression( '/data-state="failed".*Not in Salesforce: sending failed.*then click Sync now.*DUPLICATE_VALUE: duplicate value found<\/pre>/s', $html );

		delete_transient( Wooforce_Sync_Buttons::cache_key( 'order', 12 ) );
		$html = $this->box( 'order', 12, array( self::response( 200, self::state_of( 'waiting', array( 'job' => array( 'job_id' => 'job_1', 'status' => 'requested' ) ) ) ) ) );
		$this->assertStringContainsString( 'Waiting: Wooforce reads it from the store, then sends it', $html );

		delete_transient( Wooforce_Sync_Buttons::cache_key( 'order', 12 ) );
		$html = $this->box( 'order', 12, array( self::response( 200, self::state_of( 'failed', array( 'error' => 'order 12 does not exist in the store' ) ) ) ) );
		$this->assertStringContainsString( 'order 12 does not exist in the store', $html );

		delete_transient( Wooforce_Sync_Buttons::cache_key( 'order', 12 ) );
		$html = $this->box( 'order', 12, array( self::response( 200, self::state_of( 'not_synced' ) ) ) );
		$this->assertStringContainsString( 'Not sent to Salesforce yet', $html );

		delete_transient( Wooforce_Sync_Buttons::cache_key( 'order', 12 ) );
		$html = $this->box( 'order', 12, array( new WP_Error( 'http_request_failed', 'cURL error 7: Failed to connect' ) ) );
		$this->assertStringContainsString( 'data-state="unknown"', $html );
		$this->assertStringContainsString( 'nothing answers at this address', $html );
		$this->assertStringContainsString( 'cURL error 7: Failed to connect', $html );
	}

	public function test_the_state_call_is_signed_and_cached_for_a_few_seconds() {
		$this->login( 'administrator' );
		$answer = self::response( 200, self::state_of( 'synced', array( 'resource' => 'product', 'id' => 5, 'status' => 'delivered' ) ) );
		$this->box( 'product', 5, array( $answer ) );
		$this->box( 'product', 5 ); // from the transient: no second request (fake_http fails on an unexpected one)
		$this->assertCount( 1, $this->requests );
		$request = $this->requests[0];
		$this->assertSame( 'http://127.0.0.1:9/v1/stores/sto_test/entities/product/5/state', $request['url'] );
		$this->assertSame( '{}', $request['body'] );
		$this->assertSame( 'application/json', $request['headers']['content-type'] );
		$this->assertMatchesRegularExpression( '/^msg_[0-9a-f]{32}$/', $request['headers']['webhook-id'] );
		$this->assertEqualsWithDelta( time(), (int) $request['headers']['webhook-timestamp'], 5 );
		$this->assertSame( Wooforce_Client::sign( self::SECRET, $request['headers']['webhook-id'], $request['headers']['webhook-timestamp'], '{}' ), $request['headers']['webhook-signature'] );
		$this->assertSame( 10, (int) get_option( '_transient_timeout_' . Wooforce_Sync_Buttons::cache_key( 'product', 5 ) ) - time(), 'kept 10 s' );

		delete_transient( Wooforce_Sync_Buttons::cache_key( 'product', 5 ) ); // expired
		$this->box( 'product', 5, array( $answer ) );
		$this->assertCount( 2, $this->requests );
	}

	public function test_a_list_is_asked_for_in_one_call() {
		$this->login( 'administrator' );
		set_transient( Wooforce_Sync_Buttons::cache_key( 'order', 3 ), array( 'ok' => true, 'state' => self::state_of( 'synced', array( 'id' => 3 ) ), 'error' => '', 'detail' => '' ), 10 );
		$this->responses = array(
			self::response(
				200,
				array(
					'entities' => array(
						self::state_of( 'synced', array( 'id' => 1, 'sf_id' => '801000000000009AAA' ) ),
						self::state_of( 'failed', array( 'id' => 2, 'error' => 'DUPLICATE_VALUE: x' ) ),
					),
				)
			),
		);
		$this->assertSame( 2, Wooforce_Sync_Buttons::prime( array( array( 'order', 1 ), array( 'order', 2 ), array( 'order', 3 ) ) ) );
		$this->assertCount( 1, $this->requests );
		$this->assertSame( 'http://127.0.0.1:9/v1/stores/sto_test/entities/state', $this->requests[0]['url'] );
		$this->assertSame( array( 'entities' => array( array( 'resource' => 'order', 'id' => 1 ), array( 'resource' => 'order', 'id' => 2 ) ) ), json_decode( $this->requests[0]['body'], true ) );
		$this->assertStringContainsString( '801000000000009AAA', $this->box( 'order', 1 ) );
		$this->assertStringContainsString( 'DUPLICATE_VALUE: x', $this->box( 'order', 2 ) );
		$this->assertSame( 0, Wooforce_Sync_Buttons::prime( array( array( 'order', 1 ), array( 'order', 2 ) ) ) );
		$this->assertCount( 1, $this->requests, 'no further request' );
	}

	// -- where the boxes appear ---------------------------------------------------------------------

	public function test_boxes_on_the_order_product_and_customer_screens_only_for_shop_managers() {
		global $wp_meta_boxes;
		$wp_meta_boxes = array();
		$this->login( 'editor' );
		do_action( 'add_meta_boxes', 'shop_order', null );
		$this->assertEmpty( $wp_meta_boxes );
		$this->login( 'administrator' );
		do_action( 'add_meta_boxes', 'shop_order', null );
		foreach ( array( 'shop_order', 'woocommerce_page_wc-orders', 'product' ) as $screen ) {
			$this->assertArrayHasKey( 'wooforce-sync', $wp_meta_boxes[ $screen ]['side']['default'], $screen );
		}
		$wp_meta_boxes = array();

		$customer = $this->login( 'customer' );
		$this->login( 'administrator' );
		$this->responses = array( self::response( 200, self::state_of( 'not_synced', array( 'resource' => 'customer', 'id' => $customer ) ) ) );
		ob_start();
		do_action( 'edit_user_profile', get_userdata( $customer ) );
		$html = ob_get_clean();
		$this->assertStringContainsString( 'data-resource="customer" data-id="' . $customer . '"', $html );
		$this->assertSame( "http://127.0.0.1:9/v1/stores/sto_test/entities/customer/$customer/state", $this->requests[0]['url'] );
		ob_start();
		do_action( 'show_user_profile', get_userdata( get_current_user_id() ) ); // an administrator is no customer
		$this->assertSame( '', ob_get_clean() );
		$this->assertCount( 1, $this->requests );
	}

	public function test_a_draft_order_shows_no_button_and_asks_nothing() {
		$this->login( 'administrator' );
		$draft = $this->new_order( 'checkout-draft' );
		ob_start();
		Wooforce_Plugin::instance()->sync_buttons->order_box( wc_get_order( $draft ) );
		$html = ob_get_clean();
		$this->assertStringContainsString( 'A draft order is not sent to Salesforce', $html );
		$this->assertStringNotContainsString( 'Sync now', $html );
		$this->assertSame( array(), $this->requests );

		$placed = $this->new_order( 'processing' );
		$this->responses[] = self::response( 200, self::state_of( 'waiting', array( 'id' => $placed, 'status' => 'pending' ) ) );
		ob_start();
		Wooforce_Plugin::instance()->sync_buttons->order_box( get_post( $placed ) );
		$this->assertStringContainsString( 'Sync now', ob_get_clean() );
	}

	// -- Sync now: capability, nonce, the signed call -------------------------------------------------

	public function test_sync_now_needs_the_capability() {
		$this->login( 'editor' );
		$out = $this->click( array( 'resource' => 'order', 'id' => '12', 'nonce' => wp_create_nonce( Wooforce_Sync_Buttons::nonce_action( 'order', 12 ) ) ) );
		$this->assertFalse( $out['success'] );
		$this->assertStringContainsString( 'not allowed', $out['data']['message'] );
		$this->assertSame( array(), $this->requests );
	}

	public function test_sync_now_needs_the_entitys_nonce() {
		$this->login( 'administrator' );
		foreach ( array( 'forged', wp_create_nonce( Wooforce_Sync_Buttons::nonce_action( 'order', 13 ) ), wp_create_nonce( 'wooforce_resync' ), '' ) as $nonce ) {
			$this->assertNull( $this->click( array( 'resource' => 'order', 'id' => '12', 'nonce' => $nonce ) ), $nonce );
			$this->assertSame( '-1', $this->last_die, 'check_ajax_referer refused it' );
		}
		$this->assertSame( array(), $this->requests );
		$out = $this->click( array( 'resource' => 'coupon', 'id' => '12', 'nonce' => wp_create_nonce( Wooforce_Sync_Buttons::nonce_action( 'coupon', 12 ) ) ) );
		$this->assertFalse( $out['success'] );
		$this->assertSame( array(), $this->requests );
	}

	public function test_sync_now_sends_the_signed_call_and_answers_the_new_state() {
		$this->login( 'administrator' );
		set_transient( Wooforce_Sync_Buttons::cache_key( 'order', 12 ), array( 'ok' => true, 'state' => self::state_of( 'failed', array( 'status' => 'dead', 'error' => 'OLD' ) ), 'error' => '', 'detail' => '' ), 10 );
		$this->responses[] = self::response( 202, array( 'queued' => 'outbox', 'job_id' => null, 'state' => self::state_of( 'waiting', array( 'status' => 'pending' ) ) ) );
		$out = $this->click( array( 'resource' => 'order', 'id' => '12', 'nonce' => wp_create_nonce( Wooforce_Sync_Buttons::nonce_action( 'order', 12 ) ) ) );
		$this->assertTrue( $out['success'] );
		$this->assertSame( 'waiting', $out['data']['state'] );
		$this->assertStringContainsString( 'Queued: it is sent to Salesforce now.', $out['data']['html'] );
		$this->assertStringContainsString( 'Waiting to be sent to Salesforce', $out['data']['html'] );
		$request = $this->requests[0];
		$this->assertSame( 'http://127.0.0.1:9/v1/stores/sto_test/entities/order/12/sync', $request['url'] );
		$this->assertSame( Wooforce_Client::sign( self::SECRET, $request['headers']['webhook-id'], $request['headers']['webhook-timestamp'], '{}' ), $request['headers']['webhook-signature'] );
		$this->assertStringNotContainsString( 'OLD', $this->box( 'order', 12 ), 'the cache holds the new state' );
		$this->assertCount( 1, $this->requests );

		$this->responses[] = self::response( 202, array( 'queued' => 'job', 'job_id' => 'job_1', 'state' => self::state_of( 'waiting', array( 'resource' => 'product', 'id' => 9, 'job' => array( 'job_id' => 'job_1', 'status' => 'requested' ) ) ) ) );
		$out = $this->click( array( 'resource' => 'product', 'id' => '9', 'nonce' => wp_create_nonce( Wooforce_Sync_Buttons::nonce_action( 'product', 9 ) ) ) );
		$this->assertStringContainsString( 'Wooforce reads it from the store', $out['data']['html'] );

		$this->responses[] = self::response( 401, array( 'error' => array( 'code' => 'invalid_signature', 'message' => 'no valid signature' ) ) );
		$out = $this->click( array( 'resource' => 'order', 'id' => '12', 'nonce' => wp_create_nonce( Wooforce_Sync_Buttons::nonce_action( 'order', 12 ) ) ) );
		$this->assertFalse( $out['success'] );
		$this->assertStringContainsString( 'refused the secret', $out['data']['message'] );
	}

	// -- the settings page ------------------------------------------------------------------------------

	public function test_the_settings_page_shows_the_store_wide_state_and_the_console() {
		$this->login( 'administrator' );
		$health = $this->health_response( array( 'delivery' => array( 'status' => 'dead', 'backlog' => 4, 'dead' => 2, 'last_delivered_at' => '2026-11-22T15:00:00+00:00', 'oldest_waiting_s' => 30 ) ) );
		$body   = json_decode( $health['body'], true );
		$body['last_reconcile'] = array( 'started_at' => '2026-11-22T15:10:00+00:00', 'outcome' => 'auth_failed', 'error' => '401 <refused>' );
		$body['console_url']    = 'https://collector.example/console/outbox?store=sto_test';
		$html = $this->render_page( array( self::response( 200, $body ) ) );
		$this->assertMatchesRegularExpression( '/data-row="backlog"><th>Changes waiting for Salesforce<\/th><td>4</', $html );
		$this->assertMatchesRegularExpression( '/data-row="dead"><th>[^<]*dead letters\)<\/th><td>2</', $html );
		$this->assertStringContainsString( Wooforce_Admin::format_time( strtotime( '2026-11-22T15:00:00Z' ) ), $html );
		$this->assertStringContainsString( Wooforce_Admin::format_time( strtotime( '2026-11-22T15:10:00Z' ) ) . ': the WooCommerce REST keys were refused (401 &lt;refused&gt;)', $html );
		$this->assertStringContainsString( 'not used (this plugin sends the changes)', $html );
		$this->assertStringContainsString( 'href="https://collector.example/console/outbox?store=sto_test"', $html );

		Wooforce_Health::forget();
		$html = $this->render_page( array( $this->health_response() ) ); // an older collector: no console_url
		$this->assertStringContainsString( 'data-row="reconcile"><th>Last check of the store for missed changes</th><td>never</td>', $html );
		$this->assertStringContainsString( 'href="http://127.0.0.1:9/console/outbox?store=sto_test"', $html );
	}
}
