<?php
/**
 * The whole path from this store to Salesforce, as the collector reports it (signed POST .../health), worded as a
 * checklist for the store owner; and the progress of the last resync (signed POST .../jobs/{id}).
 *
 * @package Wooforce
 */

defined( 'ABSPATH' ) || exit;

/**
 * Health checklist and resync job status.
 */
class Wooforce_Health {

	const TRANSIENT = 'wooforce_health';
	const CACHE_S   = 30;
	const JOB_OPTION = 'wooforce_last_job';

	/**
	 * Ask the collector now and keep the answer for a short while.
	 *
	 * @param array|null $settings Settings (default: the saved ones).
	 * @return array{at:int,ok:bool,health:array|null,error:string,detail:string}
	 */
	public static function refresh( $settings = null ) {
		$settings = null === $settings ? Wooforce_Settings::get() : $settings;
		$result   = Wooforce_Client::post( $settings, 'health', '{}' );
		$ok       = 200 === $result['status'] && is_array( $result['json'] ) && isset( $result['json']['checks'] );
		$entry    = array(
			'at'     => time(),
			'ok'     => $ok,
			'health' => $ok ? $result['json'] : null,
			'error'  => $ok ? '' : ( '' !== $result['error'] ? $result['error'] : __( 'The collector gave an answer Wooforce does not understand. Ask your Wooforce operator to update the collector.', 'wooforce' ) ),
			'detail' => $result['detail'],
		);
		set_transient( self::TRANSIENT, $entry, self::CACHE_S );
		return $entry;
	}

	/**
	 * The last answer if still fresh, else a new one; null when the plugin is not configured.
	 */
	public static function current() {
		if ( ! Wooforce_Settings::is_configured( Wooforce_Settings::get() ) ) {
			return null;
		}
		$entry = get_transient( self::TRANSIENT );
		return is_array( $entry ) ? $entry : self::refresh();
	}

	/**
	 * Forget the cached answer (settings changed).
	 */
	public static function forget() {
		delete_transient( self::TRANSIENT );
	}

	/**
	 * The checklist: each line with its state (ok, warn, fail), what it says, the next step when it is not ok,
	 * and the technical detail.
	 *
	 * @param array $entry From refresh() / current().
	 * @return array[] Each: id, state, label, next, detail.
	 */
	public static function lines( array $entry ) {
		if ( ! $entry['ok'] ) {
			return array( self::line( 'collector', 'fail', __( 'The collector cannot be reached', 'wooforce' ), $entry['error'], $entry['detail'] ) );
		}
		$lines = array();
		foreach ( $entry['health']['checks'] as $check ) {
			$line = self::word( is_array( $check ) ? $check : array() );
			if ( null !== $line ) {
				$lines[] = $line;
			}
		}
		return $lines;
	}

	/**
	 * True when data reaches Salesforce and no line fails.
	 *
	 * @param array $entry From refresh() / current().
	 */
	public static function connected( array $entry ) {
		if ( ! $entry['ok'] || empty( $entry['health']['connected'] ) ) {
			return false;
		}
		foreach ( self::lines( $entry ) as $line ) {
			if ( 'fail' === $line['state'] ) {
				return false;
			}
		}
		return true;
	}

	/**
	 * One line of the collector's report in words.
	 *
	 * @param array $c Check: id, status and its fields.
	 */
	private static function word( array $c ) {
		$id     = isset( $c['id'] ) ? (string) $c['id'] : '';
		$status = isset( $c['status'] ) ? (string) $c['status'] : '';
		switch ( $id ) {
			case 'signature':
				return self::line( $id, 'ok', __( 'The collector is reachable and the secret is right', 'wooforce' ) );
			case 'salesforce':
				if ( 'ok' === $status ) {
					/* translators: %s: date and time */
					return self::line( $id, 'ok', sprintf( __( 'Salesforce is connected (last sign-in checked %s)', 'wooforce' ), self::when( isset( $c['checked_at'] ) ? $c['checked_at'] : null ) ) );
				}
				if ( 'not_configured' === $status ) {
					return self::line( $id, 'fail', __( 'Salesforce not connected', 'wooforce' ), __( 'Ask your Wooforce operator to connect Salesforce for this store.', 'wooforce' ) );
				}
				if ( 'not_tried' === $status ) {
					return self::line( $id, 'fail', __( 'Salesforce is set up, but Wooforce has not signed in to it yet', 'wooforce' ), __( 'This turns green once the Wooforce agent has signed in (at its next delivery). If it stays red, ask your Wooforce operator to check that the agent is running.', 'wooforce' ) );
				}
				/* translators: %s: date and time */
				return self::line( $id, 'fail', sprintf( __( 'Wooforce cannot sign in to Salesforce (since %s)', 'wooforce' ), self::when( isset( $c['failing_since'] ) ? $c['failing_since'] : null ) ), __( 'Ask your Wooforce operator to fix the Salesforce connection. Changes wait and are delivered once it works.', 'wooforce' ), trim( ( isset( $c['error_code'] ) ? $c['error_code'] . ': ' : '' ) . ( isset( $c['error'] ) ? $c['error'] : '' ) ) );
			case 'woocommerce_keys':
				if ( 'ok' === $status ) {
					return self::line( $id, 'ok', __( 'The WooCommerce REST keys work (Wooforce can catch up on missed changes)', 'wooforce' ) );
				}
				if ( 'failed' === $status ) {
					return self::line( $id, 'fail', __( 'The WooCommerce REST keys are refused', 'wooforce' ), __( 'Create a new Read/Write key under WooCommerce > Settings > Advanced > REST API and give it to your Wooforce operator.', 'wooforce' ), isset( $c['error'] ) ? (string) $c['error'] : '' );
				}
				if ( 'unknown' === $status ) {
					return self::line( $id, 'warn', __( 'The WooCommerce REST keys have not been tried yet', 'wooforce' ), __( 'Wooforce tries them at its next check of the store, within minutes.', 'wooforce' ) );
				}
				return self::line( $id, 'warn', __( 'No WooCommerce REST keys: missed changes are not caught up and resync cannot run', 'wooforce' ), __( 'Create a Read/Write key under WooCommerce > Settings > Advanced > REST API and give it to your Wooforce operator.', 'wooforce' ) );
			case 'webhooks':
				if ( 'configured' === $status ) {
					/* translators: %s: date and time */
					return self::line( $id, 'ok', sprintf( __( 'WooCommerce webhooks are set up (last change received %s)', 'wooforce' ), self::when( isset( $c['last_event_at'] ) ? $c['last_event_at'] : null ) ) );
				}
				return self::line( $id, 'ok', __( 'WooCommerce webhooks are not needed: this plugin sends the changes', 'wooforce' ) );
			case 'delivery':
				$backlog = isset( $c['backlog'] ) ? (int) $c['backlog'] : 0;
				$dead    = isset( $c['dead'] ) ? (int) $c['dead'] : 0;
				$last    = isset( $c['last_delivered_at'] ) ? $c['last_delivered_at'] : null;
				if ( 'dead' === $status ) {
					/* translators: %s: number of changes */
					return self::line( $id, 'fail', sprintf( _n( '%s change could not be written to Salesforce', '%s changes could not be written to Salesforce', $dead, 'wooforce' ), number_format_i18n( $dead ) ), __( 'Ask your Wooforce operator to look at the dead letters in the Wooforce console.', 'wooforce' ) );
				}
				if ( 'waiting' === $status ) {
					/* translators: %s: number of changes */
					return self::line( $id, 'fail', sprintf( _n( '%s change is waiting for Salesforce', '%s changes are waiting for Salesforce', $backlog, 'wooforce' ), number_format_i18n( $backlog ) ), __( 'They are delivered as soon as Salesforce is connected.', 'wooforce' ) );
				}
				if ( 'late' === $status ) {
					return self::line( $id, 'warn', __( 'Changes reach Salesforce late', 'wooforce' ), __( 'Ask your Wooforce operator to check the Wooforce agent.', 'wooforce' ) );
				}
				if ( null === $last ) {
					/* translators: %s: number of changes */
					return self::line( $id, 'ok', sprintf( __( 'Nothing delivered to Salesforce yet (%s waiting)', 'wooforce' ), number_format_i18n( $backlog ) ) );
				}
				/* translators: 1: date and time, 2: number of changes */
				return self::line( $id, 'ok', sprintf( __( 'Changes reach Salesforce (last delivery %1$s; %2$s waiting)', 'wooforce' ), self::when( $last ), number_format_i18n( $backlog ) ) );
		}
		return null; // A line a newer collector added: not known here.
	}

	/**
	 * Line shape.
	 *
	 * @param string $id     Check id.
	 * @param string $state  ok, warn or fail.
	 * @param string $label  What holds.
	 * @param string $next   Next step when not ok.
	 * @param string $detail Technical detail.
	 */
	private static function line( $id, $state, $label, $next = '', $detail = '' ) {
		return array(
			'id'     => $id,
			'state'  => $state,
			'label'  => $label,
			'next'   => $next,
			'detail' => $detail,
		);
	}

	/**
	 * An ISO time from the collector in the site's time zone.
	 *
	 * @param string|null $iso RFC 3339 time.
	 */
	public static function when( $iso ) {
		$ts = $iso ? strtotime( (string) $iso ) : false;
		return $ts ? Wooforce_Admin::format_time( $ts ) : __( 'never', 'wooforce' );
	}

	/**
	 * The last resync requested from this site: its job from the collector, or null.
	 *
	 * @return array{job_id:string,requested_at:int,job:array|null,error:string,detail:string}|null
	 */
	public static function last_job() {
		$last = get_option( self::JOB_OPTION );
		if ( ! is_array( $last ) || empty( $last['job_id'] ) ) {
			return null;
		}
		$result = Wooforce_Client::post( Wooforce_Settings::get(), 'jobs/' . rawurlencode( $last['job_id'] ), '{}' );
		$ok     = 200 === $result['status'] && is_array( $result['json'] ) && isset( $result['json']['status'] );
		return array(
			'job_id'       => (string) $last['job_id'],
			'requested_at' => (int) $last['requested_at'],
			'job'          => $ok ? $result['json'] : null,
			'error'        => $ok ? '' : $result['error'],
			'detail'       => $result['detail'],
		);
	}

	/**
	 * A job's state in words: what it did so far, or why it failed.
	 *
	 * @param array $job The collector's job row.
	 * @return array{state:string,label:string,next:string,detail:string}
	 */
	public static function job_words( array $job ) {
		$parts = array();
		foreach ( (array) ( isset( $job['progress'] ) ? $job['progress'] : array() ) as $resource => $p ) {
			if ( is_array( $p ) ) {
				/* translators: 1: records seen, 2: kind of record (orders, products, customers) */
				$parts[] = sprintf( __( '%1$s %2$s', 'wooforce' ), number_format_i18n( isset( $p['seen'] ) ? (int) $p['seen'] : 0 ), $resource );
			}
		}
		$progress = $parts ? implode( ', ', $parts ) : __( 'nothing yet', 'wooforce' );
		switch ( isset( $job['status'] ) ? $job['status'] : '' ) {
			case 'requested':
				return array( 'state' => 'warn', 'label' => __( 'Waiting for the Wooforce agent to start it', 'wooforce' ), 'next' => __( 'If it does not start within minutes, ask your Wooforce operator to check that the agent is running.', 'wooforce' ), 'detail' => '' );
			case 'running':
				/* translators: %s: records sent so far */
				return array( 'state' => 'warn', 'label' => sprintf( __( 'Running: %s sent so far', 'wooforce' ), $progress ), 'next' => '', 'detail' => '' );
			case 'done':
				/* translators: %s: records sent */
				return array( 'state' => 'ok', 'label' => sprintf( __( 'Done: %s sent', 'wooforce' ), $progress ), 'next' => '', 'detail' => '' );
			case 'cancelled':
				return array( 'state' => 'warn', 'label' => __( 'Cancelled by your Wooforce operator', 'wooforce' ), 'next' => '', 'detail' => '' );
		}
		$error = isset( $job['error'] ) ? (string) $job['error'] : '';
		$next  = false !== stripos( $error, 'REST keys' ) || false !== stripos( $error, 'WooCommerce URL' )
			? __( 'Wooforce reads the records through the WooCommerce REST API, and it has no keys for this store. Create a Read/Write key under WooCommerce > Settings > Advanced > REST API and give it to your Wooforce operator, then request the resync again.', 'wooforce' )
			: __( 'Ask your Wooforce operator; the technical detail below tells them why.', 'wooforce' );
		return array( 'state' => 'fail', 'label' => __( 'The resync failed', 'wooforce' ), 'next' => $next, 'detail' => $error );
	}
}
