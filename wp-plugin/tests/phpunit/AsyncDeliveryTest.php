<?php
/**
 * Issue 14, problems 6 and 7: the shopper's request records only what changed (entity, id, kind) and the payload
 * is built at send time; a delete carries its payload; nothing is lost when the async run never happens; after an
 * outage one success releases every waiting row and the run drains the backlog; WP-Cron stalled shows on the page.
 *
 * @package Wooforce\Tests
 */

/**
 * Recording, building at send time, draining after an outage.
 */
class AsyncDeliveryTest extends Wooforce_TestCase {

	/**
	 * An order with $lines line items, saved in one request.
	 */
	private function save_order( $lines = 2, $status = 'processing', $total = '19.99' ) {
		$items = array();
		for ( $l = 1; $l <= $lines; $l++ ) {
			$items[] = array( 'id' => $l, 'name' => "Product $l", 'product_id' => 20 + $l, 'quantity' => 1, 'total' => '9.99' );
		}
		$order = new WC_Order();
		$order->set_props( array( 'total' => $total, 'line_items' => $items ) );
		$order->set_status( $status );
		return $order->save();
	}

	/**
	 * The events the fake collector received, in order.
	 */
	private function sent_events() {
		$events = array();
		foreach ( $this->requests as $request ) {
			$events = array_merge( $events, json_decode( $request['body'], true )['events'] );
		}
		return $events;
	}

	/**
	 * Time passes: every stored time moves $s seconds into the past (the rows' backoff, the last error).
	 */
	private function clock_passes( $s ) {
		global $wpdb;
		$table = Wooforce_Spool::table();
		$wpdb->query( $wpdb->prepare( "UPDATE {$table} SET next_attempt_at = next_attempt_at - INTERVAL %d SECOND, created_at = created_at - INTERVAL %d SECOND", $s, $s ) ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		$status = Wooforce_Settings::status();
		$moved  = array();
		foreach ( array( 'last_error_at', 'last_success', 'retry_until' ) as $field ) {
			$moved[ $field ] = $status[ $field ] ? (int) $status[ $field ] - $s : 0;
		}
		Wooforce_Settings::update_status( $moved );
	}

	private function down() {
		return new WP_Error( 'http_request_failed', 'cURL error 7: Failed to connect to 127.0.0.1 port 9' );
	}

	private function due_count() {
		return count( Wooforce_Spool::due( 10000 ) );
	}

	// -- problem 6: the request records only what changed ------------------------------------------------

	public function test_the_request_spools_what_changed_not_the_payload() {
		$id = $this->save_order( 40 );
		$this->end_request();
		$rows = $this->spool();
		$this->assertSame( array( "order.created:$id" ), $this->spooled_events() );
		$stub = json_decode( $rows[0]['payload'], true );
		$this->assertSame( array( 'id', 'type', 'occurred_at', 'resource_id' ), array_keys( $stub ), 'entity, id and kind: no data' );
		$this->assertSame( $rows[0]['event_id'], $stub['id'] );
		$this->assertLessThan( 200, strlen( $rows[0]['payload'] ), 'the 40 lines are not in the request\'s write' );
		$this->assertSame( array(), $this->requests, 'nothing is sent in the request' );
	}

	public function test_the_payload_is_built_at_send_time_from_the_entity_as_it_is_then() {
		global $wpdb;
		$id = $this->save_order( 2, 'processing', '19.99' );
		$this->end_request();
		$event_id = $this->spool()[0]['event_id'];
		// The order changes after the request (no hook: what the sender reads is what is stored then).
		$post = get_post( $id );
		$data = json_decode( $post->post_content, true );
		$data['total'] = '42.00';
		$wpdb->update( $wpdb->posts, array( 'post_content' => wp_json_encode( $data ) ), array( 'ID' => $id ) );
		clean_post_cache( $id );

		$this->responses = array( $this->accept_all() );
		$this->assertSame( 1, Wooforce_Sender::run() );
		$sent = $this->sent_events();
		$this->assertCount( 1, $sent );
		$this->assertSame( $event_id, $sent[0]['id'], 'the spooled event id: a resend stays a duplicate' );
		$this->assertSame( 'order.created', $sent[0]['type'] );
		$this->assertSame( $id, $sent[0]['data']['id'] );
		$this->assertSame( '42.00', $sent[0]['data']['total'], 'built when sent' );
		$this->assertSame( 'processing', $sent[0]['data']['status'] );
		$this->assertCount( 2, $sent[0]['data']['line_items'] );
		$this->assertArrayHasKey( 'self', $sent[0]['data']['_links'] );
		$this->assertSame( array(), $this->spool() );
	}

	public function test_two_rows_of_one_entity_are_built_once_and_both_sent() {
		$id = $this->save_order();
		$this->end_request();
		$order = wc_get_order( $id );
		$order->set_status( 'completed' );
		$order->save();
		$this->end_request();
		$this->assertSame( array( "order.created:$id", "order.updated:$id" ), $this->spooled_events() );
		$this->responses = array( $this->accept_all() );
		$this->assertSame( 2, Wooforce_Sender::run() );
		$sent = $this->sent_events();
		$this->assertSame( array( 'order.created', 'order.updated' ), wp_list_pluck( $sent, 'type' ) );
		$this->assertSame( array( 'completed', 'completed' ), array( $sent[0]['data']['status'], $sent[1]['data']['status'] ) );
	}

	public function test_a_delete_captures_its_payload_in_the_request() {
		$id = $this->save_order();
		$this->end_request();
		wc_get_order( $id )->delete( true );
		$this->end_request();
		$this->assertNull( get_post( $id ) );
		$rows = $this->spool();
		$this->assertSame( array( "order.created:$id", "order.deleted:$id" ), $this->spooled_events() );
		$deleted = json_decode( $rows[1]['payload'], true );
		$this->assertSame( array( 'id' => $id ), $deleted['data'], 'complete before the row is gone' );

		$this->responses = array( $this->accept_all() );
		$this->assertSame( 2, Wooforce_Sender::run() );
		$sent = $this->sent_events();
		$this->assertSame( array( 'order.deleted', 'order.deleted' ), wp_list_pluck( $sent, 'type' ), 'the created order is gone by send time: sent as deleted' );
		$this->assertSame( array( 'id' => $id ), $sent[0]['data'] );
		$this->assertSame( array( $rows[0]['event_id'], $rows[1]['event_id'] ), wp_list_pluck( $sent, 'id' ) );
	}

	public function test_an_order_that_is_a_draft_at_send_time_is_not_sent() {
		$id = $this->save_order( 1, 'checkout-draft' );
		Wooforce_Plugin::instance()->recorder = new Wooforce_Recorder();
		Wooforce_Plugin::instance()->recorder->record( 'order', $id, 'updated' ); // A hook that did not pass the order.
		$this->end_request();
		$this->assertSame( array( "order.updated:$id" ), $this->spooled_events() );
		$this->assertSame( 0, Wooforce_Sender::run() );
		$this->assertSame( array(), $this->requests, 'nothing sent' );
		$this->assertSame( array(), $this->spool(), 'and nothing left waiting' );
	}

	public function test_no_event_is_lost_when_the_async_run_never_happens() {
		remove_filter( 'wooforce_delivery_mode', array( $this, 'no_delivery' ) );
		$cron_mode = static function () {
			return 'cron';
		};
		add_filter( 'wooforce_delivery_mode', $cron_mode );
		$spawned = static function () {
			return true; // No loopback request from the tests.
		};
		add_filter( 'pre_transient_doing_cron', $spawned );
		try {
			$first = $this->save_order();
			$this->end_request();
			$this->assertNotFalse( wp_next_scheduled( Wooforce_Plugin::DELIVER_HOOK ), 'a run is scheduled' );
			$this->assertGreaterThan( 0, (int) get_option( Wooforce_Plugin::SCHEDULED_OPTION ) );

			// While that run is on its way, a request spools its change in one query and schedules nothing.
			global $wpdb;
			$second = $this->save_order();
			$before = $wpdb->num_queries;
			$this->end_request();
			$this->assertSame( 1, $wpdb->num_queries - $before, 'one INSERT: no scheduling query, no payload built' );

			// The async run never happens (PHP killed, the job lost): the minute sweep sends everything.
			wp_clear_scheduled_hook( Wooforce_Plugin::DELIVER_HOOK );
			$this->responses = array( $this->accept_all() );
			do_action( Wooforce_Plugin::CRON_HOOK );
			$this->assertSame( array( $first, $second ), wp_list_pluck( $this->sent_events(), 'resource_id' ) );
			$this->assertSame( array(), $this->spool() );
			$this->assertFalse( get_option( Wooforce_Plugin::SCHEDULED_OPTION ), 'the run clears the mark: the next change schedules again' );
		} finally {
			remove_filter( 'wooforce_delivery_mode', $cron_mode );
			remove_filter( 'pre_transient_doing_cron', $spawned );
			add_filter( 'wooforce_delivery_mode', array( $this, 'no_delivery' ) );
			wp_clear_scheduled_hook( Wooforce_Plugin::DELIVER_HOOK );
		}
	}

	public function test_a_stale_scheduled_mark_does_not_stop_scheduling() {
		update_option( Wooforce_Plugin::SCHEDULED_OPTION, time() - Wooforce_Plugin::SCHEDULED_TTL_S - 1, true );
		remove_filter( 'wooforce_delivery_mode', array( $this, 'no_delivery' ) );
		$cron_mode = static function () {
			return 'cron';
		};
		add_filter( 'wooforce_delivery_mode', $cron_mode );
		add_filter( 'pre_transient_doing_cron', '__return_true' );
		try {
			$this->save_order();
			$this->end_request();
			$this->assertNotFalse( wp_next_scheduled( Wooforce_Plugin::DELIVER_HOOK ) );
		} finally {
			remove_filter( 'wooforce_delivery_mode', $cron_mode );
			remove_filter( 'pre_transient_doing_cron', '__return_true' );
			add_filter( 'wooforce_delivery_mode', array( $this, 'no_delivery' ) );
			wp_clear_scheduled_hook( Wooforce_Plugin::DELIVER_HOOK );
		}
	}

	// -- problem 7: the backlog flows once the collector answers ------------------------------------------

	public function test_after_a_10_minute_outage_300_events_flow_in_the_first_run_after_the_return() {
		// Ten minutes down, 30 changes a minute, the minute sweep failing each minute (simulated clock).
		for ( $minute = 0; $minute < 10; $minute++ ) {
			$this->spool_events( 30, 'order', 1 + 30 * $minute );
			$this->responses = array( $this->down() );
			$this->assertSame( 0, Wooforce_Sender::run() );
			$this->clock_passes( 60 );
		}
		$this->assertCount( 10, $this->requests, 'one failed request a minute, no more' );
		$this->assertCount( 300, $this->spool( 'queued' ), 'nothing lost' );
		$this->assertLessThan( 300, $this->due_count(), 'rows wait for their own backoff' );

		// The collector is back: the next sweep (within a minute) delivers the whole backlog in one run.
		$this->requests  = array();
		$this->responses = array_fill( 0, 8, $this->accept_all() );
		$t0              = microtime( true );
		$this->assertSame( 300, Wooforce_Sender::run() );
		$run_s = microtime( true ) - $t0;
		$this->assertSame( array(), $this->spool() );
		$this->assertCount( 6, $this->requests, '6 batches of 50' );
		$sent = wp_list_pluck( $this->sent_events(), 'resource_id' );
		sort( $sent );
		$this->assertSame( range( 1, 300 ), $sent, 'each once' );
		$this->assertLessThan( 20, $run_s );
	}

	public function test_a_probe_finds_the_collector_back_before_any_rows_backoff_ends() {
		global $wpdb;
		$this->spool_events( 120 );
		$this->responses = array( $this->down() );
		Wooforce_Sender::run();
		// Every row waits up to an hour (a long outage), the last failure a minute ago.
		$wpdb->query( $wpdb->prepare( 'UPDATE ' . Wooforce_Spool::table() . ' SET attempts = 8, next_attempt_at = %s', gmdate( 'Y-m-d H:i:s', time() + 3000 ) ) ); // phpcs:ignore WordPress.DB.PreparedSQL.NotPrepared
		$this->clock_passes( Wooforce_Sender::PROBE_INTERVAL_S );
		$this->assertSame( 0, $this->due_count() );

		$this->requests  = array();
		$this->responses = array( $this->accept_all(), $this->accept_all(), $this->accept_all() );
		$this->assertSame( 120, Wooforce_Sender::run(), 'the probe succeeds, every row is released, the run drains' );
		$this->assertCount( 3, $this->requests );
		$this->assertSame( array(), $this->spool() );
	}

	public function test_a_failed_probe_keeps_everything_and_probes_at_most_once_a_run() {
		global $wpdb;
		$this->spool_events( 60 );
		$wpdb->query( $wpdb->prepare( 'UPDATE ' . Wooforce_Spool::table() . ' SET attempts = 5, next_attempt_at = %s', gmdate( 'Y-m-d H:i:s', time() + 900 ) ) ); // phpcs:ignore WordPress.DB.PreparedSQL.NotPrepared
		$this->responses = array( $this->down() );
		$this->assertSame( 0, Wooforce_Sender::run() );
		$this->assertCount( 1, $this->requests, 'one probe' );
		$this->assertCount( 60, $this->spool( 'queued' ) );
		$this->assertSame( 0, Wooforce_Sender::run(), 'the failure is recent: no probe' );
		$this->assertCount( 1, $this->requests );
	}

	public function test_no_probe_while_the_collectors_retry_after_holds() {
		$this->spool_events( 3 );
		$this->responses = array( self::response( 429, '', array( 'Retry-After' => '600' ) ) );
		Wooforce_Sender::run();
		$this->clock_passes( 120 ); // The probe interval has passed, the collector's 600 s have not.
		$this->assertFalse( Wooforce_Sender::probe_due() );
		$this->assertSame( 0, Wooforce_Sender::run() );
		$this->assertCount( 1, $this->requests );
		$this->clock_passes( 500 );
		$this->assertTrue( Wooforce_Sender::probe_due() );
	}

	public function test_a_success_resets_the_backoff_of_every_waiting_row() {
		global $wpdb;
		$this->spool_events( 5 );
		$wpdb->query( $wpdb->prepare( 'UPDATE ' . Wooforce_Spool::table() . " SET attempts = 7, next_attempt_at = %s, last_error = 'down'", gmdate( 'Y-m-d H:i:s', time() + 3600 ) ) ); // phpcs:ignore WordPress.DB.PreparedSQL.NotPrepared
		Wooforce_Settings::record_error( 'down', 'down' ); // A failure just now: no probe.
		$this->spool_events( 1, 'order', 99 ); // A new change, due at once.
		$this->responses = array( $this->accept_all(), $this->accept_all() );
		$this->assertSame( 6, Wooforce_Sender::run() );
		$this->assertSame( array( 99, 1, 2, 3, 4, 5 ), wp_list_pluck( $this->sent_events(), 'resource_id' ) );
		$this->assertSame( array(), $this->spool() );
	}

	public function test_a_backlog_that_outlasts_the_runs_budget_goes_on_in_a_new_run_at_once() {
		$this->spool_events( 60 );
		remove_filter( 'wooforce_delivery_mode', array( $this, 'no_delivery' ) );
		$cron_mode = static function () {
			return 'cron';
		};
		add_filter( 'wooforce_delivery_mode', $cron_mode );
		add_filter( 'pre_transient_doing_cron', '__return_true' );
		add_filter( 'wooforce_delivery_budget_s', '__return_zero' ); // Time is up after the first batch.
		try {
			$this->responses = array( $this->accept_all() );
			Wooforce_Plugin::deliver();
			$this->assertCount( 1, $this->requests, 'a run sends at least one batch' );
			$this->assertCount( 10, $this->spool() );
			$this->assertTrue( Wooforce_Sender::$out_of_time );
			$this->assertNotFalse( wp_next_scheduled( Wooforce_Plugin::DELIVER_HOOK ), 'the next run is scheduled now, not at the next minute' );

			wp_clear_scheduled_hook( Wooforce_Plugin::DELIVER_HOOK );
			$this->responses = array( $this->accept_all() );
			Wooforce_Plugin::deliver();
			$this->assertSame( array(), $this->spool() );
			$this->assertFalse( Wooforce_Sender::$out_of_time );
			$this->assertFalse( wp_next_scheduled( Wooforce_Plugin::DELIVER_HOOK ), 'nothing left: no new run' );
		} finally {
			remove_filter( 'wooforce_delivery_mode', $cron_mode );
			remove_filter( 'pre_transient_doing_cron', '__return_true' );
			remove_filter( 'wooforce_delivery_budget_s', '__return_zero' );
			add_filter( 'wooforce_delivery_mode', array( $this, 'no_delivery' ) );
			wp_clear_scheduled_hook( Wooforce_Plugin::DELIVER_HOOK );
		}
	}

	// -- the settings page: WP-Cron stalled ---------------------------------------------------------------

	public function test_the_page_says_when_wp_cron_looks_stalled_and_how_to_set_up_a_system_cron() {
		$this->login( 'administrator' );
		wp_clear_scheduled_hook( Wooforce_Plugin::CRON_HOOK );
		wp_schedule_event( time() - 5 * MINUTE_IN_SECONDS, 'wooforce_minute', Wooforce_Plugin::CRON_HOOK );
		$html = $this->render_page( array( $this->health_response() ) );
		$this->assertStringNotContainsString( 'wooforce-cron-stalled', $html, 'five minutes late: not yet' );

		wp_clear_scheduled_hook( Wooforce_Plugin::CRON_HOOK );
		wp_schedule_event( time() - 11 * MINUTE_IN_SECONDS, 'wooforce_minute', Wooforce_Plugin::CRON_HOOK );
		$html = $this->render_page( array( $this->health_response() ) );
		$this->assertStringContainsString( 'wooforce-cron-stalled', $html );
		$this->assertStringContainsString( 'WP-Cron looks stalled', $html );
		$this->assertStringContainsString( 'has not run for 11 minutes', $html );
		$this->assertStringContainsString( '* * * * * curl -fsS ' . site_url( 'wp-cron.php?doing_wp_cron' ), $html );
		$this->assertStringContainsString( 'wp cron event run --due-now', $html );
		$this->assertStringContainsString( 'DISABLE_WP_CRON', $html );
		wp_clear_scheduled_hook( Wooforce_Plugin::CRON_HOOK );
		Wooforce_Plugin::ensure_recurring();
	}
}
