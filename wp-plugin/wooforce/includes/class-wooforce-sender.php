<?php
/**
 * Delivers spooled events to the collector, after the shopper's response.
 *
 * @package Wooforce
 */

defined( 'ABSPATH' ) || exit;

/**
 * Batches, payloads built at send time, acknowledgements, backoff, probes after an outage and poisoning.
 */
class Wooforce_Sender {

	const BATCH_SIZE   = 50;
	const BASE_DELAY_S = 30;
	const MAX_DELAY_S  = 3600;
	const LOCK_OPTION  = 'wooforce_delivery_lock';
	const LOCK_TTL_S   = 120;
	// With every row waiting for its backoff, a run still sends the oldest batch when the last failure is this old:
	// the minute sweep finds the collector back within a minute of its return, whatever the rows' backoff.
	const PROBE_INTERVAL_S = 50;

	/**
	 * Whether the last run() ran out of time with rows still due.
	 *
	 * @var bool
	 */
	public static $out_of_time = false;

	/**
	 * Exponential backoff with jitter: half fixed, half random, capped.
	 *
	 * @param int $attempts Attempts made so far (1 for the first retry).
	 * @return int Seconds.
	 */
	public static function backoff_s( $attempts ) {
		$ceiling = (int) min( self::MAX_DELAY_S, self::BASE_DELAY_S * pow( 2, max( 0, $attempts - 1 ) ) );
		$half    = intdiv( $ceiling, 2 );
		$delay   = max( 1, $half + wp_rand( 0, $ceiling - $half ) );
		return max( 0, (int) apply_filters( 'wooforce_backoff_s', $delay, $attempts ) );
	}

	/**
	 * Send every due event, batch after batch, until the spool is empty, the collector fails or the time is up.
	 * When nothing is due but rows wait for their backoff, the oldest batch is sent anyway as a probe (at most once
	 * a run, PROBE_INTERVAL_S after the last failure, never inside a Retry-After): a success releases every waiting
	 * row (Wooforce_Spool::release_waiting) and the run goes on draining. A run sends at least one batch; when its
	 * time is up with rows still due, $out_of_time says so (the next run is scheduled at once: Wooforce_Plugin::deliver).
	 *
	 * @param float $budget_s Time budget.
	 * @return int Events acknowledged.
	 */
	public static function run( $budget_s = 20.0 ) {
		self::$out_of_time = false;
		$settings          = Wooforce_Settings::get();
		if ( ! Wooforce_Settings::is_configured( $settings ) || ! self::lock() ) {
			return 0;
		}
		$start  = microtime( true );
		$acked  = 0;
		$probed = false;
		try {
			for ( $first = true; ; $first = false ) {
				if ( ! $first && microtime( true ) - $start >= $budget_s ) {
					self::$out_of_time = (bool) Wooforce_Spool::due( 1 );
					break;
				}
				$rows = Wooforce_Spool::due( self::BATCH_SIZE );
				if ( ! $rows && ! $probed && self::probe_due() ) {
					$rows   = Wooforce_Spool::waiting( self::BATCH_SIZE );
					$probed = true;
				}
				if ( ! $rows ) {
					break;
				}
				$rows = self::complete( $rows );
				if ( ! $rows ) {
					continue; // Only drafts: set aside, the next batch may hold real changes.
				}
				list( $n, $stop ) = self::send( $rows, $settings );
				$acked           += $n;
				if ( $stop ) {
					break;
				}
			}
		} finally {
			delete_option( self::LOCK_OPTION );
		}
		return $acked;
	}

	/**
	 * Whether a run may probe: the last failure is PROBE_INTERVAL_S old and no Retry-After holds.
	 */
	public static function probe_due() {
		$status = Wooforce_Settings::status();
		$now    = time();
		return $now - (int) $status['last_error_at'] >= self::PROBE_INTERVAL_S && $now >= (int) $status['retry_until'];
	}

	/**
	 * Rows with their payloads built now, from the current entities (Wooforce_Recorder::complete); the rows of
	 * draft orders leave the spool unsent.
	 *
	 * @param array[] $rows Spool rows.
	 * @return array[]
	 */
	public static function complete( array $rows ) {
		$cache  = array();
		$out    = array();
		$drafts = array();
		foreach ( $rows as $row ) {
			$payload = Wooforce_Recorder::complete( $row['payload'], $cache );
			if ( null === $payload ) {
				$drafts[] = (int) $row['id'];
				continue;
			}
			$row['payload'] = $payload;
			$out[]          = $row;
		}
		Wooforce_Spool::delete( $drafts );
		return $out;
	}

	/**
	 * Send one batch and settle every row of it.
	 *
	 * @param array[] $rows     Spool rows.
	 * @param array   $settings Settings.
	 * @return array{0:int,1:bool} Rows acknowledged, whether to stop this run.
	 */
	public static function send( array $rows, array $settings ) {
		$body   = '{"events":[' . implode( ',', wp_list_pluck( $rows, 'payload' ) ) . ']}';
		$result = Wooforce_Client::post( $settings, 'events', $body );
		$status = $result['status'];

		if ( $status >= 200 && $status < 300 ) {
			$by_event = array();
			foreach ( $rows as $row ) {
				$by_event[ $row['event_id'] ] = $row;
			}
			$acked = $by_event;
			if ( isset( $result['json']['results'] ) && is_array( $result['json']['results'] ) ) {
				$acked = array();
				foreach ( $result['json']['results'] as $item ) {
					$id = isset( $item['id'] ) ? (string) $item['id'] : '';
					if ( isset( $by_event[ $id ], $item['status'] ) && in_array( $item['status'], array( 'accepted', 'duplicate', 'ignored' ), true ) ) {
						$acked[ $id ] = $by_event[ $id ];
					}
				}
			}
			Wooforce_Spool::delete( array_map( 'intval', wp_list_pluck( $acked, 'id' ) ) );
			Wooforce_Spool::release_waiting(); // The collector answers: the backlog flows now, not after each row's backoff.
			$left = array_diff_key( $by_event, $acked );
			if ( $left ) {
				Wooforce_Spool::retry( array_values( $left ), __( 'The collector did not acknowledge this event.', 'wooforce' ) );
			}
			Wooforce_Settings::record_success(); // The collector is back: its old error no longer holds.
			return array( count( $acked ), (bool) $left );
		}

		if ( in_array( $status, array( 400, 413, 422 ), true ) ) {
			// No retry fixes these. Split the batch to set aside only the events at fault.
			if ( count( $rows ) > 1 ) {
				$half = (int) ceil( count( $rows ) / 2 );
				list( $a, $stop_a ) = self::send( array_slice( $rows, 0, $half ), $settings );
				if ( $stop_a ) {
					return array( $a, true );
				}
				list( $b, $stop_b ) = self::send( array_slice( $rows, $half ), $settings );
				return array( $a + $b, $stop_b );
			}
			Wooforce_Spool::poison( $rows, $result['detail'] );
			Wooforce_Settings::record_error( $result['error'], $result['detail'] );
			return array( 0, false );
		}

		// Down, 5xx, 429, timeout: retry later. 401/404 and other 4xx mean misconfiguration: keep, back off, show.
		Wooforce_Spool::retry( $rows, '' !== $result['detail'] ? $result['detail'] : $result['error'], $result['retry_after'] );
		Wooforce_Settings::record_error( $result['error'], $result['detail'] );
		if ( null !== $result['retry_after'] ) {
			Wooforce_Settings::update_status( array( 'retry_until' => time() + max( 1, min( self::MAX_DELAY_S, (int) $result['retry_after'] ) ) ) );
		}
		return array( 0, true );
	}

	/**
	 * One delivery at a time: add_option() is atomic on the options table's unique key.
	 */
	private static function lock() {
		if ( add_option( self::LOCK_OPTION, time() + self::LOCK_TTL_S, '', 'no' ) ) {
			return true;
		}
		$until = (int) get_option( self::LOCK_OPTION );
		if ( $until < time() ) {
			delete_option( self::LOCK_OPTION );
			return add_option( self::LOCK_OPTION, time() + self::LOCK_TTL_S, '', 'no' );
		}
		return false;
	}
}
