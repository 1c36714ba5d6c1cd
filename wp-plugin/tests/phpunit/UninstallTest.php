<?php
/**
 * uninstall.php through WordPress's own uninstall_plugin(): options, transients, the spool table and
 * scheduled events are gone afterwards. Runs outside the per-test transaction (DROP TABLE commits),
 * then re-activates the plugin so the database is as setup-env.sh left it.
 *
 * @package Wooforce\Tests
 */

/**
 * Uninstall.
 */
class UninstallTest extends Wooforce_TestCase {

	public function test_uninstall_removes_everything() {
		global $wpdb;
		$wpdb->query( 'COMMIT' );
		$wpdb->query( 'SET autocommit = 1' );
		try {
			Wooforce_Plugin::activate();
			$this->spool_events( 2 );
			Wooforce_Settings::update_status( array( 'last_success' => time() ) );
			set_transient( 'wooforce_notice_1', array( 'type' => 'success', 'message' => 'x' ), 60 );
			wp_schedule_single_event( time(), Wooforce_Plugin::DELIVER_HOOK );
			$this->assertNotFalse( wp_next_scheduled( Wooforce_Plugin::CRON_HOOK ) );
			$this->assertNotEmpty( $this->wooforce_options() );

			uninstall_plugin( 'wooforce/wooforce.php' );
			wp_cache_flush();

			$this->assertSame( array(), $this->wooforce_options() );
			$this->assertNull( $wpdb->get_var( $wpdb->prepare( 'SHOW TABLES LIKE %s', Wooforce_Spool::table() ) ) );
			$this->assertFalse( wp_next_scheduled( Wooforce_Plugin::CRON_HOOK ) );
			$this->assertFalse( wp_next_scheduled( Wooforce_Plugin::DELIVER_HOOK ) );
			$this->assertStringNotContainsString( 'wooforce', (string) wp_json_encode( _get_cron_array() ) );
		} finally {
			Wooforce_Plugin::activate();
			Wooforce_Settings::save( array( 'collector_url' => '', 'store_id' => '', 'secret' => '', 'max_spool_rows' => 10000 ) );
			$wpdb->query( 'SET autocommit = 0' );
			$wpdb->query( 'START TRANSACTION' );
		}
	}

	private function wooforce_options() {
		global $wpdb;
		return $wpdb->get_col( "SELECT option_name FROM {$wpdb->options} WHERE option_name LIKE '%wooforce%'" );
	}
}
