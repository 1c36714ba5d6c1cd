<?php
/**
 * The spool: a bounded table of events waiting for the collector's acknowledgement.
 *
 * @package Wooforce
 */

defined( 'ABSPATH' ) || exit;

/**
 * All SQL on {$wpdb->prefix}wooforce_spool.
 */
class Wooforce_Spool {

	const DB_VERSION = '1';

	/**
	 * Id of the newest row this request inserted (0: none).
	 *
	 * @var int
	 */
	public static $last_id = 0;

	/**
	 * Table name.
	 */
	public static function table() {
		global $wpdb;
		return $wpdb->prefix . 'wooforce_spool';
	}

	/**
	 * Create or upgrade the table.
	 */
	public static function install() {
		global $wpdb;
		require_once ABSPATH . 'wp-admin/includes/upgrade.php';
		$table   = self::table();
		$collate = $wpdb->get_charset_collate();
		dbDelta(
			"CREATE TABLE {$table} (
  id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  event_id varchar(64) NOT NULL,
  type varchar(32) NOT NULL,
  resource_id bigint(20) unsigned NOT NULL,
  payload longtext NOT NULL,
  attempts int(10) unsigned NOT NULL DEFAULT 0,
  next_attempt_at datetime NOT NULL,
  last_error text NULL,
  status varchar(16) NOT NULL DEFAULT 'queued',
  created_at datetime NOT NULL,
  PRIMARY KEY  (id),
  UNIQUE KEY event_id (event_id),
  KEY status_next (status,next_attempt_at),
  KEY resource (resource_id)
) {$collate};"
		);
		update_option( 'wooforce_db_version', self::DB_VERSION, false );
	}

	/**
	 * Insert events in one statement.
	 *
	 * @param array[] $events Each: event_id, type, resource_id, payload (JSON string).
	 * @return bool
	 */
	public static function insert( array $events ) {
		global $wpdb;
		if ( ! $events ) {
			return true;
		}
		$now    = gmdate( 'Y-m-d H:i:s' );
		$values = array();
		$args   = array();
		foreach ( $events as $event ) {
			$values[] = '(%s, %s, %d, %s, 0, %s, %s, %s)';
			array_push( $args, $event['event_id'], $event['type'], $event['resource_id'], $event['payload'], $now, 'queued', $now );
		}
		$table = self::table();
		// phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		$sql = "INSERT INTO {$table} (event_id, type, resource_id, payload, attempts, next_attempt_at, status, created_at) VALUES " . implode( ', ', $values );
		$ok = false !== $wpdb->query( $wpdb->prepare( $sql, $args ) ); // phpcs:ignore WordPress.DB.PreparedSQL.NotPrepared
		// A multi-row INSERT reports its first id; InnoDB gives such a statement consecutive ids.
		self::$last_id = $ok ? (int) $wpdb->insert_id + count( $events ) - 1 : 0;
		return $ok;
	}

	/**
	 * Queued rows that are due, oldest first.
	 *
	 * @param int $limit Batch size.
	 * @return array[]
	 */
	public static function due( $limit ) {
		global $wpdb;
		$table = self::table();
		return $wpdb->get_results(
			$wpdb->prepare( "SELECT id, event_id, type, resource_id, payload, attempts FROM {$table} WHERE status = 'queued' AND next_attempt_at <= %s ORDER BY id LIMIT %d", gmdate( 'Y-m-d H:i:s' ), $limit ), // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
			ARRAY_A
		);
	}

	/**
	 * The oldest queued rows, due or not (a probe after an outage: the collector may be back before their backoff ends).
	 *
	 * @param int $limit Batch size.
	 * @return array[]
	 */
	public static function waiting( $limit ) {
		global $wpdb;
		$table = self::table();
		return $wpdb->get_results(
			$wpdb->prepare( "SELECT id, event_id, type, resource_id, payload, attempts FROM {$table} WHERE status = 'queued' ORDER BY id LIMIT %d", $limit ), // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
			ARRAY_A
		);
	}

	/**
	 * The collector answers again: every queued row waiting for its backoff is due now, its backoff reset.
	 *
	 * @return int Rows released.
	 */
	public static function release_waiting() {
		global $wpdb;
		$table = self::table();
		$now   = gmdate( 'Y-m-d H:i:s' );
		return (int) $wpdb->query( $wpdb->prepare( "UPDATE {$table} SET next_attempt_at = %s, attempts = 0 WHERE status = 'queued' AND next_attempt_at > %s", $now, $now ) ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
	}

	/**
	 * Remove acknowledged rows.
	 *
	 * @param int[] $ids Row ids.
	 */
	public static function delete( array $ids ) {
		global $wpdb;
		if ( $ids ) {
			$table = self::table();
			$wpdb->query( "DELETE FROM {$table} WHERE id IN (" . implode( ',', array_map( 'intval', $ids ) ) . ')' ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		}
	}

	/**
	 * Count one more attempt and set the next one.
	 *
	 * @param array[]  $rows        Rows from due().
	 * @param string   $error       Reason, kept on the row.
	 * @param int|null $retry_after Seconds the collector asked us to wait, if it did.
	 */
	public static function retry( array $rows, $error, $retry_after = null ) {
		global $wpdb;
		foreach ( $rows as $row ) {
			$attempts = (int) $row['attempts'] + 1;
			$delay    = null !== $retry_after ? max( 1, min( Wooforce_Sender::MAX_DELAY_S, (int) $retry_after ) ) : Wooforce_Sender::backoff_s( $attempts );
			$wpdb->update(
				self::table(),
				array(
					'attempts'        => $attempts,
					'next_attempt_at' => gmdate( 'Y-m-d H:i:s', time() + $delay ),
					'last_error'      => $error,
				),
				array( 'id' => (int) $row['id'] ),
				array( '%d', '%s', '%s' ),
				array( '%d' )
			);
		}
	}

	/**
	 * Set rows aside for good: the collector will never accept them as they are.
	 *
	 * @param array[] $rows  Rows from due().
	 * @param string  $error Reason.
	 */
	public static function poison( array $rows, $error ) {
		global $wpdb;
		foreach ( $rows as $row ) {
			$wpdb->update(
				self::table(),
				array(
					'status'     => 'poisoned',
					'attempts'   => (int) $row['attempts'] + 1,
					'last_error' => $error,
				),
				array( 'id' => (int) $row['id'] ),
				array( '%s', '%d', '%s' ),
				array( '%d' )
			);
		}
	}

	/**
	 * Row counts per status.
	 *
	 * @return array{queued:int,poisoned:int}
	 */
	public static function counts() {
		global $wpdb;
		$table  = self::table();
		$counts = array(
			'queued'   => 0,
			'poisoned' => 0,
		);
		foreach ( (array) $wpdb->get_results( "SELECT status, COUNT(*) AS n FROM {$table} GROUP BY status", ARRAY_A ) as $row ) { // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
			$counts[ $row['status'] ] = (int) $row['n'];
		}
		return $counts;
	}

	/**
	 * Keep the table at most $max rows.
	 *
	 * Drops first the queued rows that a newer row of the same entity supersedes (the newest per
	 * entity is kept), then the oldest poisoned rows, then the oldest queued rows. Counts what it drops.
	 *
	 * @param int $max Row limit.
	 * @return int Rows dropped.
	 */
	public static function enforce_bound( $max ) {
		global $wpdb;
		$table = self::table();
		// Rows only leave, so (last inserted id - a past MIN(id) + 1) is never below the row count.
		// With the floor cached in an autoloaded option, a request that is far from the limit runs no query.
		$last  = self::$last_id;
		$floor = (int) get_option( 'wooforce_spool_floor', 0 );
		if ( $last > 0 && $floor > 0 && $last >= $floor && $last - $floor + 1 <= (int) $max ) {
			return 0;
		}
		$min = (int) $wpdb->get_var( "SELECT MIN(id) FROM {$table}" ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		if ( $min > 0 && $min !== $floor ) {
			update_option( 'wooforce_spool_floor', $min, true );
		}
		if ( $last > 0 && $min > 0 && $last >= $min && $last - $min + 1 <= (int) $max ) {
			return 0;
		}
		$total  = (int) $wpdb->get_var( "SELECT COUNT(*) FROM {$table}" ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		$excess = $total - (int) $max;
		if ( $excess <= 0 ) {
			return 0;
		}
		$dropped = 0;
		$queries = array(
			// phpcs:disable WordPress.DB.PreparedSQL.InterpolatedNotPrepared
			"SELECT a.id FROM {$table} a WHERE a.status = 'queued' AND EXISTS (SELECT 1 FROM {$table} b WHERE b.resource_id = a.resource_id AND b.id > a.id AND b.status = 'queued' AND SUBSTRING_INDEX(b.type, '.', 1) = SUBSTRING_INDEX(a.type, '.', 1)) ORDER BY a.id LIMIT %d",
			"SELECT id FROM {$table} WHERE status = 'poisoned' ORDER BY id LIMIT %d",
			"SELECT id FROM {$table} ORDER BY id LIMIT %d",
			// phpcs:enable
		);
		foreach ( $queries as $sql ) {
			if ( $excess <= 0 ) {
				break;
			}
			$ids = array_map( 'intval', $wpdb->get_col( $wpdb->prepare( $sql, $excess ) ) ); // phpcs:ignore WordPress.DB.PreparedSQL.NotPrepared
			self::delete( $ids );
			$excess  -= count( $ids );
			$dropped += count( $ids );
		}
		if ( $dropped ) {
			$status = Wooforce_Settings::status();
			Wooforce_Settings::update_status( array( 'dropped' => (int) $status['dropped'] + $dropped ) );
		}
		return $dropped;
	}

	/**
	 * Drop the table (uninstall).
	 */
	public static function drop() {
		global $wpdb;
		$wpdb->query( 'DROP TABLE IF EXISTS ' . self::table() ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
	}
}
