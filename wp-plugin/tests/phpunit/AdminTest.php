<?php
/**
 * Settings page and its admin-post handlers in a real WordPress: capability and nonce on every handler
 * (refused requests change nothing), the https rule, the secret never echoed, escaping, the signed ping
 * and resync calls. HTTP goes to a fake collector (pre_http_request). WooCommerce stand-in.
 *
 * @package Wooforce\Tests
 */

require_once ABSPATH . 'wp-admin/includes/template.php';

/**
 * Admin.
 */
class AdminTest extends Wooforce_TestCase {

	private function new_settings() {
		return array(
			'wooforce_collector_url'  => 'https://collector.example.com/',
			'wooforce_store_id'       => 'sto_new',
			'wooforce_secret'         => 'whsec_c2hvcnQ=',
			'wooforce_max_spool_rows' => '500',
		);
	}

	public function handlers() {
		return array(
			'save'   => array( 'wooforce_save_settings' ),
			'test'   => array( 'wooforce_test_connection' ),
			'resync' => array( 'wooforce_resync' ),
		);
	}

	/**
	 * @dataProvider handlers
	 */
	public function test_user_without_capability_is_refused( $action ) {
		$this->login( 'subscriber' );
		$before = get_option( Wooforce_Settings::OPTION );
		try {
			$this->post( $action, $this->new_settings() );
			$this->fail( 'not refused' );
		} catch ( Wooforce_Test_Die $die ) {
			$this->assertStringContainsString( 'not allowed', $die->getMessage() );
		}
		$this->assertSame( $before, get_option( Wooforce_Settings::OPTION ) );
		$this->assertSame( array(), $this->requests );
	}

	/**
	 * @dataProvider handlers
	 */
	public function test_bad_nonce_is_refused( $action ) {
		$this->login( 'administrator' );
		$before = get_option( Wooforce_Settings::OPTION );
		foreach ( array( 'forged', wp_create_nonce( 'some_other_action' ) ) as $nonce ) {
			try {
				$this->post( $action, $this->new_settings(), $nonce );
				$this->fail( 'not refused' );
			} catch ( Wooforce_Test_Die $die ) {
				$this->assertNotEmpty( $die->getMessage() );
			}
		}
		$this->assertSame( $before, get_option( Wooforce_Settings::OPTION ) );
		$this->assertSame( array(), $this->requests );
	}

	public function test_save_with_capability_and_nonce() {
		$this->login( 'administrator' );
		$this->responses = array( $this->pong() );
		$notice          = $this->post( 'wooforce_save_settings', $this->new_settings() );
		$this->assertSame( 'success', $notice['type'] );
		$this->assertSame( 'https://collector.example.com/v1/stores/sto_new/ping', $this->requests[0]['url'], 'checked with the new settings before saving' );
		$this->assertSame(
			array( 'collector_url' => 'https://collector.example.com', 'store_id' => 'sto_new', 'secret' => 'whsec_c2hvcnQ=', 'max_spool_rows' => 500 ),
			Wooforce_Settings::get()
		);
	}

	public function test_empty_secret_keeps_the_stored_one() {
		$this->login( 'administrator' );
		$this->responses = array( $this->pong() );
		$this->post( 'wooforce_save_settings', array_merge( $this->new_settings(), array( 'wooforce_secret' => '' ) ) );
		$this->assertSame( self::SECRET, Wooforce_Settings::get()['secret'] );
		$notice = $this->post( 'wooforce_save_settings', array_merge( $this->new_settings(), array( 'wooforce_secret' => 'not base64 !' ) ) );
		$this->assertSame( 'error', $notice['type'] );
		$this->assertSame( self::SECRET, Wooforce_Settings::get()['secret'] );
	}

	public function test_http_only_for_localhost() {
		$this->login( 'administrator' );
		$notice = $this->post( 'wooforce_save_settings', array_merge( $this->new_settings(), array( 'wooforce_collector_url' => 'http://collector.example.com' ) ) );
		$this->assertSame( 'error', $notice['type'] );
		$this->assertStringContainsString( 'Nothing was saved', $notice['message'] );
		$form = get_transient( 'wooforce_form_' . get_current_user_id() );
		$this->assertStringContainsString( 'must start with https://', $form['errors']['collector_url'] );
		$this->assertSame( 'http://127.0.0.1:9', Wooforce_Settings::get()['collector_url'], 'refused URL not stored' );
		$this->assertSame( 'sto_test', Wooforce_Settings::get()['store_id'], 'the valid fields are not saved either' );
		$html = $this->render_page( array( $this->health_response() ) );
		$this->assertStringContainsString( 'value="http://collector.example.com"', $html, 'the refused URL is shown as typed, not replaced' );
		$this->assertStringContainsString( 'value="sto_new"', $html );
		$this->assertStringContainsString( 'must start with https://', $html );
		$this->assertSame( array( 'http://127.0.0.1:9/v1/stores/sto_test/health' ), wp_list_pluck( $this->requests, 'url' ), 'invalid input: no ping, only the page\'s checklist' );

		foreach ( array( 'http://localhost:8080', 'http://127.0.0.1:9000/', 'http://[::1]:9000', 'https://collector.example.com/base' ) as $ok ) {
			$this->assertIsString( Wooforce_Settings::validate_url( $ok ), $ok );
		}
		foreach ( array( 'http://10.0.0.5', 'http://localhost.example.com', 'ftp://localhost', 'collector.example.com', 'https://user:pw@collector.example.com', '' ) as $bad ) {
			$this->assertWPError( Wooforce_Settings::validate_url( $bad ), $bad );
		}
	}

	private function assertWPError( $value, $message ) {
		$this->assertInstanceOf( WP_Error::class, $value, $message );
	}

	public function test_page_never_echoes_the_secret_and_escapes_status() {
		$this->login( 'administrator' );
		Wooforce_Settings::update_status( array( 'last_error' => '<script>alert(1)</script>', 'last_error_at' => time() ) );
		$this->spool_events( 3 );
		$html = $this->render_page( array( $this->health_response() ) );
		$this->assertStringNotContainsString( self::SECRET, $html );
		$this->assertStringNotContainsString( substr( self::SECRET, 6 ), $html );
		$this->assertMatchesRegularExpression( '/<input type="password"[^>]*name="wooforce_secret" value=""/', $html );
		$this->assertStringNotContainsString( '<script>alert(1)', $html );
		$this->assertStringContainsString( '&lt;script&gt;', $html );
		$this->assertStringContainsString( '3 / 10,000', $html );
		$this->assertStringContainsString( wp_create_nonce( 'wooforce_save_settings' ), $html );
	}

	public function test_page_refuses_users_without_capability() {
		$this->login( 'editor' );
		$this->expectException( Wooforce_Test_Die::class );
		ob_start();
		try {
			Wooforce_Plugin::instance()->admin->render();
		} finally {
			$html = ob_get_clean();
			$this->assertStringNotContainsString( 'wooforce_secret', $html );
		}
	}

	public function test_connection_sends_a_signed_ping() {
		$this->login( 'administrator' );
		$this->responses = array( self::response( 200, array( 'ok' => true, 'store_id' => 'sto_test', 'store_name' => 'Rig <Shop>', 'server_time' => '2026-11-22T15:35:24Z' ) ) );
		$this->responses[] = $this->health_response();
		$notice            = $this->post( 'wooforce_test_connection', array() );
		$this->assertSame( 'warning', $notice['type'], 'the collector answers, but Salesforce is not connected' );
		$this->assertStringContainsString( 'Rig <Shop>', $notice['message'] );
		$this->assertStringContainsString( 'data does not reach Salesforce yet', $notice['message'] );
		$request = $this->requests[0];
		$this->assertSame( 'http://127.0.0.1:9/v1/stores/sto_test/ping', $request['url'] );
		$this->assertSame( '{"ping":true}', $request['body'] );
		$this->assertSame( Wooforce_Client::sign( self::SECRET, $request['headers']['webhook-id'], $request['headers']['webhook-timestamp'], $request['body'] ), $request['headers']['webhook-signature'] );

		$this->responses = array( self::response( 401, array( 'error' => array( 'code' => 'bad_signature', 'message' => 'no signature matches' ) ) ) );
		$notice          = $this->post( 'wooforce_test_connection', array() );
		$this->assertSame( 'error', $notice['type'] );
		$this->assertStringContainsString( 'refused the secret', $notice['message'] );
		$this->assertStringContainsString( '401 bad_signature', $notice['detail'] );
	}

	public function test_resync_posts_since_and_resources() {
		$this->login( 'administrator' );
		$this->responses = array( self::response( 202, array( 'job_id' => 'job_123' ) ) );
		$notice          = $this->post( 'wooforce_resync', array( 'wooforce_since' => '2026-11-01', 'wooforce_resources' => array( 'orders', 'products', 'bogus' ) ) );
		$this->assertSame( 'success', $notice['type'] );
		$this->assertSame( 'job_123', get_option( Wooforce_Health::JOB_OPTION )['job_id'] );
		$this->assertSame( 'http://127.0.0.1:9/v1/stores/sto_test/resync', $this->requests[0]['url'] );
		$this->assertSame( '{"since":"2026-11-01T00:00:00Z","resources":["orders","products"]}', $this->requests[0]['body'] );

		$this->responses = array( self::response( 202, array( 'job_id' => 'job_124' ) ) );
		$this->post( 'wooforce_resync', array( 'wooforce_resources' => self::RESOURCES_ALL ) );
		$this->assertSame( '{"since":null,"resources":["orders","products","customers"]}', $this->requests[1]['body'] );

		$notice = $this->post( 'wooforce_resync', array( 'wooforce_since' => '01/11/2026' ) );
		$this->assertSame( 'error', $notice['type'] );
		$this->assertCount( 2, $this->requests );
	}
}
