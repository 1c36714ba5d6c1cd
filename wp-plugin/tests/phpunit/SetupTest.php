<?php
/**
 * A store owner setting the plugin up alone (issue 21): one connection string, checked with a signed ping before
 * it is saved; the checklist of the whole path to Salesforce; a truthful status table; a form that keeps what was
 * typed; resync with its job's progress; plain-language errors; WordPress conventions.
 * HTTP goes to a fake collector (pre_http_request). WooCommerce stand-in.
 *
 * @package Wooforce\Tests
 */

require_once ABSPATH . 'wp-admin/includes/template.php';
require_once ABSPATH . 'wp-admin/includes/class-wp-screen.php';
require_once ABSPATH . 'wp-admin/includes/screen.php';

/**
 * Setup.
 */
class SetupTest extends Wooforce_TestCase {

	const NEW_SECRET = 'whsec_c2hvcnQ=';

	private static function connection_string( array $data ) {
		return 'wooforce://' . rtrim( strtr( base64_encode( wp_json_encode( $data ) ), '+/', '-_' ), '=' ); // phpcs:ignore WordPress.PHP.DiscouragedPHPFunctions.obfuscation_base64_encode
	}

	private function good_string() {
		return self::connection_string( array( 'v' => 1, 'url' => 'https://collector.example.com', 'store_id' => 'st_paste', 'secret' => self::NEW_SECRET ) );
	}

	private function form() {
		return get_transient( 'wooforce_form_' . get_current_user_id() );
	}

	// -- 1. one thing to paste ------------------------------------------------------------------

	public function test_connection_string_is_checked_with_a_signed_ping_then_saved() {
		$this->login( 'administrator' );
		$this->responses = array( $this->pong( 'Paste Shop' ) );
		$notice          = $this->post( 'wooforce_save_settings', array( 'wooforce_connection_string' => "  \n" . $this->good_string() . "\n" ) );
		$this->assertSame( 'success', $notice['type'], $notice['message'] );
		$this->assertStringContainsString( 'Settings saved', $notice['message'] );
		$this->assertStringContainsString( 'Paste Shop', $notice['message'] );
		$request = $this->requests[0];
		$this->assertSame( 'https://collector.example.com/v1/stores/st_paste/ping', $request['url'] );
		$this->assertSame( Wooforce_Client::sign( self::NEW_SECRET, $request['headers']['webhook-id'], $request['headers']['webhook-timestamp'], $request['body'] ), $request['headers']['webhook-signature'], 'signed with the pasted secret' );
		$settings = Wooforce_Settings::get();
		$this->assertSame( array( 'https://collector.example.com', 'st_paste', self::NEW_SECRET ), array( $settings['collector_url'], $settings['store_id'], $settings['secret'] ) );
	}

	public function test_a_damaged_connection_string_saves_nothing_and_sends_nothing() {
		$this->login( 'administrator' );
		$before = get_option( Wooforce_Settings::OPTION );
		foreach ( array( 'https://collector.example.com', 'wooforce://not-base64-json', self::connection_string( array( 'v' => 1, 'url' => 'https://c.example.com' ) ) ) as $bad ) {
			$notice = $this->post( 'wooforce_save_settings', array( 'wooforce_connection_string' => $bad ) );
			$this->assertSame( 'error', $notice['type'] );
			$this->assertStringContainsString( 'Copy it', $this->form()['errors']['connection_string'], $bad );
		}
		$this->assertStringContainsString( 'not a Wooforce connection string', Wooforce_Settings::validate( array( 'connection_string' => 'hello' ), Wooforce_Settings::get() )[1]['connection_string'] );
		$this->assertStringContainsString( 'damaged', Wooforce_Settings::validate( array( 'connection_string' => 'wooforce://e30' ), Wooforce_Settings::get() )[1]['connection_string'] );
		$http = self::connection_string( array( 'v' => 1, 'url' => 'http://collector.example.com', 'store_id' => 'st_x', 'secret' => self::NEW_SECRET ) );
		$this->assertStringContainsString( 'https://', Wooforce_Settings::validate( array( 'connection_string' => $http ), Wooforce_Settings::get() )[1]['connection_string'] );
		$this->assertSame( $before, get_option( Wooforce_Settings::OPTION ) );
		$this->assertSame( array(), $this->requests );
	}

	// -- 4. a form that keeps what was typed ------------------------------------------------------

	public function test_empty_and_malformed_fields_get_distinct_messages_and_nothing_is_saved() {
		$this->login( 'administrator' );
		$before = get_option( Wooforce_Settings::OPTION );
		$this->post( 'wooforce_save_settings', array( 'wooforce_collector_url' => 'https://new.example.com', 'wooforce_store_id' => '', 'wooforce_secret' => '' ) );
		$this->assertSame( 'Enter the store id.', $this->form()['errors']['store_id'] );
		$this->assertSame( $before, get_option( Wooforce_Settings::OPTION ), 'the valid URL is not saved while the store id is missing' );

		$this->post( 'wooforce_save_settings', array( 'wooforce_collector_url' => '', 'wooforce_store_id' => 'st bad!', 'wooforce_max_spool_rows' => 'lots' ) );
		$errors = $this->form()['errors'];
		$this->assertStringContainsString( 'may only hold letters, digits', $errors['store_id'] );
		$this->assertStringContainsString( 'Enter the collector URL', $errors['collector_url'] );
		$this->assertStringContainsString( 'whole number', $errors['max_spool_rows'] );
		$this->assertSame( array( 'collector_url' => '', 'store_id' => 'st bad!', 'max_spool_rows' => 'lots' ), $this->form()['values'] );
		$this->assertSame( $before, get_option( Wooforce_Settings::OPTION ) );

		Wooforce_Settings::save( array( 'collector_url' => '', 'store_id' => '', 'secret' => '', 'max_spool_rows' => 10000 ) );
		$this->post( 'wooforce_save_settings', array( 'wooforce_collector_url' => 'https://c.example.com', 'wooforce_store_id' => 'st_1', 'wooforce_secret' => '' ) );
		$this->assertSame( 'Enter the secret.', $this->form()['errors']['secret'] );
		$this->post( 'wooforce_save_settings', array( 'wooforce_collector_url' => 'https://c.example.com', 'wooforce_store_id' => 'st_1', 'wooforce_secret' => 'not base64 !' ) );
		$this->assertStringContainsString( 'must look like whsec_', $this->form()['errors']['secret'] );
		$this->assertSame( array(), $this->requests );
	}

	public function test_a_wrong_secret_in_the_right_format_is_caught_on_save() {
		$this->login( 'administrator' );
		$before          = get_option( Wooforce_Settings::OPTION );
		$this->responses = array( self::response( 401, array( 'error' => array( 'code' => 'bad_signature', 'message' => 'no signature matches' ) ) ) );
		$notice          = $this->post( 'wooforce_save_settings', array( 'wooforce_connection_string' => $this->good_string() ) );
		$this->assertSame( 'error', $notice['type'] );
		$this->assertStringContainsString( 'Nothing was saved', $notice['message'] );
		$this->assertStringContainsString( 'refused the secret', $notice['message'] );
		$this->assertStringContainsString( 'HTTP 401 bad_signature', $notice['detail'] );
		$this->assertSame( $before, get_option( Wooforce_Settings::OPTION ) );
		$status = Wooforce_Settings::status();
		$this->assertFalse( $status['last_test_ok'] );
		$this->assertGreaterThan( 0, $status['last_test_at'] );
	}

	// -- 3. a truthful status table -------------------------------------------------------------

	public function test_a_failed_test_shows_in_last_error_and_a_good_one_sets_last_send_and_clears_it() {
		$this->login( 'administrator' );
		update_option( 'timezone_string', 'Europe/Berlin' );
		$this->responses = array( new WP_Error( 'http_request_failed', 'cURL error 7: Failed to connect to 127.0.0.1 port 9' ) );
		$notice          = $this->post( 'wooforce_test_connection', array() );
		$this->assertSame( 'error', $notice['type'] );
		$status = Wooforce_Settings::status();
		$this->assertStringContainsString( 'unreachable', $status['last_error'] );
		$this->assertStringContainsString( 'cURL error 7', $status['last_error_detail'] );
		$html = $this->render_page( array( new WP_Error( 'http_request_failed', 'cURL error 7: Failed to connect' ) ) );
		$this->assertMatchesRegularExpression( '/wooforce-last-error">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T: The collector is unreachable/', $html, 'in the site time zone' );
		$this->assertMatchesRegularExpression( '/wooforce-last-test">[^<]*failed/', $html );
		$this->assertMatchesRegularExpression( '/wooforce-last-success">never/', $html );

		$this->responses = array( $this->pong(), $this->health_response() );
		$this->post( 'wooforce_test_connection', array() );
		$status = Wooforce_Settings::status();
		$this->assertSame( '', $status['last_error'], 'a working connection clears "unreachable"' );
		$this->assertEqualsWithDelta( time(), $status['last_success'], 5 );
		$html = $this->render_page();
		$this->assertMatchesRegularExpression( '/wooforce-last-success">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T</', $html );
		$this->assertMatchesRegularExpression( '/wooforce-last-test">[^<]*worked/', $html );
		$this->assertStringContainsString( 'wooforce-last-error">none', $html );
	}

	// -- 2. the whole path, checked and shown ---------------------------------------------------

	public function test_checklist_fails_on_salesforce_not_connected_with_the_next_step() {
		$this->login( 'administrator' );
		$html = $this->render_page( array( $this->health_response() ) );
		$this->assertStringContainsString( 'Not connected: data does not reach Salesforce yet.', $html );
		$this->assertMatchesRegularExpression( '/data-check="salesforce" data-state="fail">.*?Salesforce not connected.*?Ask your Wooforce operator to connect Salesforce/s', $html );
		$this->assertMatchesRegularExpression( '/data-check="signature" data-state="ok"/', $html );
		$this->assertMatchesRegularExpression( '/data-check="delivery" data-state="fail">.*?2 changes are waiting for Salesforce/s', $html );
		$this->assertMatchesRegularExpression( '/data-check="woocommerce_keys" data-state="warn"/', $html );
		$this->assertSame( 'http://127.0.0.1:9/v1/stores/sto_test/health', $this->requests[0]['url'] );
		$this->assertSame( '{}', $this->requests[0]['body'] );
		$this->assertSame( Wooforce_Client::sign( self::SECRET, $this->requests[0]['headers']['webhook-id'], $this->requests[0]['headers']['webhook-timestamp'], '{}' ), $this->requests[0]['headers']['webhook-signature'] );
		$this->render_page();
		$this->assertCount( 1, $this->requests, 'the answer is kept for a short while' );
	}

	public function test_checklist_goes_green_when_data_reaches_salesforce() {
		$this->login( 'administrator' );
		$green = $this->health_response(
			array(
				'salesforce'       => array( 'status' => 'ok', 'checked_at' => '2026-11-22T15:35:24+00:00' ),
				'woocommerce_keys' => array( 'status' => 'ok' ),
				'delivery'         => array( 'status' => 'ok', 'backlog' => 0, 'dead' => 0, 'last_delivered_at' => '2026-11-22T15:35:20+00:00' ),
			),
			true
		);
		$html = $this->render_page( array( $green ) );
		$this->assertStringContainsString( 'Connected: data reaches Salesforce.', $html );
		$this->assertStringNotContainsString( 'data-state="fail"', $html );
		$this->assertStringContainsString( 'Changes reach Salesforce (last delivery', $html );

		Wooforce_Health::forget();
		$failing = $this->health_response( array( 'salesforce' => array( 'status' => 'failing', 'error_code' => 'invalid_grant', 'error' => 'authentication failure', 'failing_since' => '2026-11-22T15:00:00+00:00' ) ) );
		$html    = $this->render_page( array( $failing ) );
		$this->assertMatchesRegularExpression( '/data-check="salesforce" data-state="fail">.*?cannot sign in to Salesforce.*?fix the Salesforce connection.*?<details.*?invalid_grant: authentication failure/s', $html );

		Wooforce_Health::forget();
		$html = $this->render_page( array( self::response( 404, '<html>Not Found</html>' ) ) );
		$this->assertMatchesRegularExpression( '/data-check="collector" data-state="fail">.*?No Wooforce collector answers at this address/s', $html );
		$this->assertStringContainsString( 'Not connected', $html );
	}

	// -- 5. resync -------------------------------------------------------------------------------

	public function test_resync_needs_a_kind_and_a_date_not_in_the_future() {
		$this->login( 'administrator' );
		$notice = $this->post( 'wooforce_resync', array() );
		$this->assertSame( 'error', $notice['type'] );
		$this->assertStringContainsString( 'at least one kind', $notice['message'] );
		$notice = $this->post( 'wooforce_resync', array( 'wooforce_since' => wp_date( 'Y-m-d', time() + 2 * DAY_IN_SECONDS ), 'wooforce_resources' => array( 'orders' ) ) );
		$this->assertSame( 'error', $notice['type'] );
		$this->assertStringContainsString( 'may not be in the future', $notice['message'] );
		$this->assertSame( array(), $this->requests );

		update_option( 'timezone_string', 'Europe/Berlin' );
		$this->responses = array( self::response( 202, array( 'job_id' => 'job_1' ) ) );
		$this->post( 'wooforce_resync', array( 'wooforce_since' => '2026-07-01', 'wooforce_resources' => array( 'orders' ) ) );
		$this->assertSame( '{"since":"2026-06-30T22:00:00Z","resources":["orders"]}', $this->requests[0]['body'], 'the day starts in the site time zone' );
	}

	public function test_the_jobs_progress_and_result_show_on_the_page() {
		$this->login( 'administrator' );
		update_option( Wooforce_Health::JOB_OPTION, array( 'job_id' => 'job_7', 'requested_at' => time() ), false );
		$job  = static function ( $status, $progress = array(), $error = null ) {
			return self::response( 200, array( 'job_id' => 'job_7', 'kind' => 'backfill', 'status' => $status, 'progress' => $progress, 'error' => $error ) );
		};
		$html = $this->render_page( array( $this->health_response(), $job( 'running', array( 'orders' => array( 'seen' => 120, 'total' => 300 ) ) ) ) );
		$this->assertStringContainsString( 'Running: 120 orders sent so far', $html );
		$this->assertSame( 'http://127.0.0.1:9/v1/stores/sto_test/jobs/job_7', $this->requests[1]['url'] );
		$html = $this->render_page( array( $job( 'done', array( 'orders' => array( 'seen' => 300 ), 'products' => array( 'seen' => 12 ) ) ) ) );
		$this->assertStringContainsString( 'Done: 300 orders, 12 products sent', $html );
		$html = $this->render_page( array( $job( 'failed', array(), 'the store has no WooCommerce URL or REST keys' ) ) );
		$this->assertMatchesRegularExpression( '/data-state="fail">.*?The resync failed.*?Create a Read\/Write key.*?<details.*?no WooCommerce URL or REST keys/s', $html );
	}

	// -- 7. WordPress conventions ---------------------------------------------------------------

	public function test_shop_managers_may_resync_but_not_change_the_connection() {
		if ( ! get_role( 'shop_manager' ) ) {
			add_role( 'shop_manager', 'Shop manager', array( 'read' => true, 'manage_woocommerce' => true ) );
		}
		$this->login( 'shop_manager' );
		$before = get_option( Wooforce_Settings::OPTION );
		foreach ( array( 'wooforce_save_settings', 'wooforce_test_connection' ) as $action ) {
			try {
				$this->post( $action, array( 'wooforce_connection_string' => $this->good_string() ) );
				$this->fail( "$action not refused" );
			} catch ( Wooforce_Test_Die $die ) {
				$this->assertStringContainsString( 'not allowed', $die->getMessage() );
			}
		}
		$this->assertSame( $before, get_option( Wooforce_Settings::OPTION ) );
		$this->responses = array( self::response( 202, array( 'job_id' => 'job_9' ) ) );
		$this->assertSame( 'success', $this->post( 'wooforce_resync', array( 'wooforce_resources' => array( 'orders' ) ) )['type'] );
		$html = $this->render_page( array( $this->health_response(), self::response( 200, array( 'job_id' => 'job_9', 'status' => 'requested', 'progress' => array() ) ) ) );
		$this->assertStringNotContainsString( 'wooforce_connection_string', $html );
		$this->assertStringNotContainsString( 'wooforce_test_connection', $html );
		$this->assertStringContainsString( 'wooforce_resync', $html );
	}

	public function test_setup_notice_until_configured_and_dismissible_notices() {
		$this->login( 'administrator' );
		ob_start();
		Wooforce_Plugin::instance()->admin->setup_notice();
		$this->assertSame( '', ob_get_clean(), 'configured: no notice' );
		Wooforce_Settings::save( array( 'collector_url' => '', 'store_id' => '', 'secret' => '', 'max_spool_rows' => 10000 ) );
		ob_start();
		do_action( 'admin_notices' );
		$html = ob_get_clean();
		$this->assertStringContainsString( 'Wooforce is not set up yet.', $html );
		$this->assertStringContainsString( 'is-dismissible', $html );
		$this->assertStringContainsString( admin_url( 'admin.php?page=wooforce' ), $html );
		$this->login( 'editor' );
		ob_start();
		Wooforce_Plugin::instance()->admin->setup_notice();
		$this->assertSame( '', ob_get_clean(), 'only for those who can set it up' );

		$this->login( 'administrator' );
		Wooforce_Settings::save( array( 'collector_url' => 'http://127.0.0.1:9', 'store_id' => 'sto_test', 'secret' => self::SECRET, 'max_spool_rows' => 10000 ) );
		set_transient( 'wooforce_notice_' . get_current_user_id(), array( 'type' => 'error', 'message' => 'Plain words.', 'detail' => 'cURL error 35: <ssl>' ), 60 );
		$html = $this->render_page( array( $this->health_response() ) );
		$this->assertMatchesRegularExpression( '/<div class="notice notice-error is-dismissible"><p>Plain words.<details class="wooforce-detail"><summary>Technical details<\/summary><code>cURL error 35: &lt;ssl&gt;<\/code><\/details>/', $html );
	}

	public function test_help_tabs_textdomain_and_header() {
		$this->login( 'administrator' );
		set_current_screen( 'woocommerce_page_wooforce' );
		Wooforce_Plugin::instance()->admin->add_help_tabs();
		$tabs = get_current_screen()->get_help_tabs();
		$this->assertSame( array( 'wooforce-setup', 'wooforce-status' ), array_keys( $tabs ) );
		$this->assertStringContainsString( 'connection string', $tabs['wooforce-setup']['content'] );
		$GLOBALS['current_screen'] = null;

		$this->assertSame( 10, has_action( 'init', array( 'Wooforce_Plugin', 'load_textdomain' ) ) );
		$this->assertSame( 10, has_action( 'admin_notices', array( Wooforce_Plugin::instance()->admin, 'setup_notice' ) ) );
		$header = get_file_data( WOOFORCE_FILE, array( 'Version' => 'Version', 'PluginURI' => 'Plugin URI', 'DomainPath' => 'Domain Path' ) );
		$this->assertSame( $header['Version'], WOOFORCE_VERSION, 'one source for the version' );
		$this->assertStringNotContainsString( 'example.com', $header['PluginURI'] );
		$this->assertSame( '/languages', $header['DomainPath'] );
		$this->assertFileExists( dirname( WOOFORCE_FILE ) . '/languages/wooforce.pot' );
	}
}
