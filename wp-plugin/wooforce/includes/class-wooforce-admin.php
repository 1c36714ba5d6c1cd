<?php
/**
 * WooCommerce > Wooforce: settings, status, test connection, resync.
 *
 * @package Wooforce
 */

defined( 'ABSPATH' ) || exit;

/**
 * Settings screen and its admin-post handlers. Each handler checks capability and nonce first.
 */
class Wooforce_Admin {

	const CAPABILITY = 'manage_woocommerce';
	const PAGE       = 'wooforce';
	const RESOURCES  = array( 'orders', 'products', 'customers' );

	/**
	 * Submenu under WooCommerce.
	 */
	public function add_menu() {
		add_submenu_page( 'woocommerce', __( 'Wooforce', 'wooforce' ), __( 'Wooforce', 'wooforce' ), self::CAPABILITY, self::PAGE, array( $this, 'render' ) );
	}

	/**
	 * "Settings" link on the Plugins screen.
	 *
	 * @param array $links Links.
	 */
	public function action_links( $links ) {
		array_unshift( $links, '<a href="' . esc_url( self::page_url() ) . '">' . esc_html__( 'Settings', 'wooforce' ) . '</a>' );
		return $links;
	}

	/**
	 * Page URL.
	 */
	public static function page_url() {
		return admin_url( 'admin.php?page=' . self::PAGE );
	}

	/**
	 * Save settings.
	 */
	public function handle_save() {
		$this->guard( 'wooforce_save_settings' );
		$input = array();
		foreach ( array( 'collector_url', 'store_id', 'secret', 'max_spool_rows' ) as $field ) {
			// Sanitized and validated field by field in Wooforce_Settings::validate().
			$input[ $field ] = isset( $_POST[ 'wooforce_' . $field ] ) ? wp_unslash( $_POST[ 'wooforce_' . $field ] ) : ''; // phpcs:ignore WordPress.Security.ValidatedSanitizedInput.InputNotSanitized
		}
		$input = array_map( 'strval', $input );
		list( $settings, $errors ) = Wooforce_Settings::validate( $input, Wooforce_Settings::get() );
		Wooforce_Settings::save( $settings );
		if ( $errors ) {
			$this->finish( 'error', implode( ' ', $errors ) );
		}
		$this->finish( 'success', __( 'Settings saved.', 'wooforce' ) );
	}

	/**
	 * Signed ping.
	 */
	public function handle_test_connection() {
		$this->guard( 'wooforce_test_connection' );
		$result = Wooforce_Client::post( Wooforce_Settings::get(), 'ping', '{"ping":true}' );
		if ( 200 === $result['status'] && ! empty( $result['json']['ok'] ) ) {
			$name = isset( $result['json']['store_name'] ) ? (string) $result['json']['store_name'] : '';
			/* translators: %s: store name registered in the collector */
			$this->finish( 'success', sprintf( __( 'Connected: the collector knows this store as "%s".', 'wooforce' ), $name ) );
		}
		/* translators: %s: error */
		$this->finish( 'error', sprintf( __( 'Connection failed: %s', 'wooforce' ), $result['error'] ? $result['error'] : 'HTTP ' . $result['status'] ) );
	}

	/**
	 * Ask the collector for a resync.
	 */
	public function handle_resync() {
		$this->guard( 'wooforce_resync' );
		$since = isset( $_POST['wooforce_since'] ) ? sanitize_text_field( wp_unslash( $_POST['wooforce_since'] ) ) : '';
		$since_rfc3339 = null;
		if ( '' !== $since ) {
			$date = DateTimeImmutable::createFromFormat( '!Y-m-d', $since, new DateTimeZone( 'UTC' ) );
			if ( ! $date || $date->format( 'Y-m-d' ) !== $since ) {
				$this->finish( 'error', __( 'The "since" date must be YYYY-MM-DD.', 'wooforce' ) );
			}
			$since_rfc3339 = $date->format( 'Y-m-d\TH:i:s\Z' );
		}
		$resources = isset( $_POST['wooforce_resources'] ) ? array_map( 'sanitize_key', (array) wp_unslash( $_POST['wooforce_resources'] ) ) : self::RESOURCES;
		$resources = array_values( array_intersect( self::RESOURCES, $resources ) );
		if ( ! $resources ) {
			$this->finish( 'error', __( 'Choose at least one kind of record to resync.', 'wooforce' ) );
		}
		$body   = wp_json_encode( array( 'since' => $since_rfc3339, 'resources' => $resources ) );
		$result = Wooforce_Client::post( Wooforce_Settings::get(), 'resync', $body );
		if ( $result['status'] >= 200 && $result['status'] < 300 ) {
			$job = isset( $result['json']['job_id'] ) ? (string) $result['json']['job_id'] : '';
			/* translators: %s: job id */
			$this->finish( 'success', sprintf( __( 'Resync requested (job %s).', 'wooforce' ), $job ) );
		}
		/* translators: %s: error */
		$this->finish( 'error', sprintf( __( 'Resync failed: %s', 'wooforce' ), $result['error'] ) );
	}

	/**
	 * Capability, then nonce. Either failing stops the request before anything changes.
	 *
	 * @param string $action Nonce action.
	 */
	private function guard( $action ) {
		if ( ! current_user_can( self::CAPABILITY ) ) {
			wp_die( esc_html__( 'Sorry, you are not allowed to manage Wooforce.', 'wooforce' ), 403 );
		}
		check_admin_referer( $action );
	}

	/**
	 * Keep a notice for the next page view and go back to the settings page.
	 *
	 * @param string $type    success or error.
	 * @param string $message Plain text.
	 */
	private function finish( $type, $message ) {
		set_transient( 'wooforce_notice_' . get_current_user_id(), array( 'type' => $type, 'message' => $message ), MINUTE_IN_SECONDS );
		wp_safe_redirect( self::page_url() );
		exit;
	}

	/**
	 * The settings page.
	 */
	public function render() {
		if ( ! current_user_can( self::CAPABILITY ) ) {
			wp_die( esc_html__( 'Sorry, you are not allowed to manage Wooforce.', 'wooforce' ), 403 );
		}
		$settings = Wooforce_Settings::get();
		$status   = Wooforce_Settings::status();
		$counts   = Wooforce_Spool::counts();
		$notice   = get_transient( 'wooforce_notice_' . get_current_user_id() );
		delete_transient( 'wooforce_notice_' . get_current_user_id() );
		$post_url = admin_url( 'admin-post.php' );
		?>
		<div class="wrap">
			<h1><?php esc_html_e( 'Wooforce', 'wooforce' ); ?></h1>
			<?php if ( is_array( $notice ) ) : ?>
				<div class="notice notice-<?php echo esc_attr( 'success' === $notice['type'] ? 'success' : 'error' ); ?>"><p><?php echo esc_html( $notice['message'] ); ?></p></div>
			<?php endif; ?>
			<?php if ( $status['dropped'] > 0 ) : ?>
				<div class="notice notice-warning"><p>
					<?php
					/* translators: %d: number of events */
					echo esc_html( sprintf( __( 'The spool was full: %d older events were dropped. Run a resync to bring Salesforce up to date.', 'wooforce' ), $status['dropped'] ) );
					?>
				</p></div>
			<?php endif; ?>

			<h2><?php esc_html_e( 'Status', 'wooforce' ); ?></h2>
			<table class="widefat striped" style="max-width:48em"><tbody>
				<tr><th><?php esc_html_e( 'Last successful send', 'wooforce' ); ?></th><td><?php echo esc_html( $status['last_success'] ? gmdate( 'Y-m-d H:i:s', $status['last_success'] ) . ' UTC' : __( 'never', 'wooforce' ) ); ?></td></tr>
				<tr><th><?php esc_html_e( 'Events waiting in the spool', 'wooforce' ); ?></th><td><?php echo esc_html( number_format_i18n( $counts['queued'] ) . ' / ' . number_format_i18n( $settings['max_spool_rows'] ) ); ?></td></tr>
				<tr><th><?php esc_html_e( 'Poisoned events (refused by the collector, not retried)', 'wooforce' ); ?></th><td><?php echo esc_html( number_format_i18n( $counts['poisoned'] ) ); ?></td></tr>
				<tr><th><?php esc_html_e( 'Dropped events (spool full)', 'wooforce' ); ?></th><td><?php echo esc_html( number_format_i18n( $status['dropped'] ) ); ?></td></tr>
				<tr><th><?php esc_html_e( 'Last error', 'wooforce' ); ?></th><td><?php echo esc_html( $status['last_error'] ? gmdate( 'Y-m-d H:i:s', $status['last_error_at'] ) . ' UTC: ' . $status['last_error'] : __( 'none', 'wooforce' ) ); ?></td></tr>
			</tbody></table>

			<h2><?php esc_html_e( 'Settings', 'wooforce' ); ?></h2>
			<form method="post" action="<?php echo esc_url( $post_url ); ?>">
				<input type="hidden" name="action" value="wooforce_save_settings">
				<?php wp_nonce_field( 'wooforce_save_settings' ); ?>
				<table class="form-table" role="presentation">
					<tr><th scope="row"><label for="wooforce_collector_url"><?php esc_html_e( 'Collector URL', 'wooforce' ); ?></label></th>
						<td><input type="url" class="regular-text" id="wooforce_collector_url" name="wooforce_collector_url" value="<?php echo esc_attr( $settings['collector_url'] ); ?>" placeholder="https://collector.example.com">
						<p class="description"><?php esc_html_e( 'https:// is required; http:// only for localhost.', 'wooforce' ); ?></p></td></tr>
					<tr><th scope="row"><label for="wooforce_store_id"><?php esc_html_e( 'Store id', 'wooforce' ); ?></label></th>
						<td><input type="text" class="regular-text" id="wooforce_store_id" name="wooforce_store_id" value="<?php echo esc_attr( $settings['store_id'] ); ?>"></td></tr>
					<tr><th scope="row"><label for="wooforce_secret"><?php esc_html_e( 'Secret', 'wooforce' ); ?></label></th>
						<td><input type="password" class="regular-text" id="wooforce_secret" name="wooforce_secret" value="" autocomplete="new-password" placeholder="<?php echo esc_attr( '' !== $settings['secret'] ? __( '(stored; leave empty to keep it)', 'wooforce' ) : 'whsec_...' ); ?>"></td></tr>
					<tr><th scope="row"><label for="wooforce_max_spool_rows"><?php esc_html_e( 'Spool limit (events)', 'wooforce' ); ?></label></th>
						<td><input type="number" min="100" id="wooforce_max_spool_rows" name="wooforce_max_spool_rows" value="<?php echo esc_attr( (string) $settings['max_spool_rows'] ); ?>"></td></tr>
				</table>
				<?php submit_button( __( 'Save settings', 'wooforce' ) ); ?>
			</form>

			<h2><?php esc_html_e( 'Connection', 'wooforce' ); ?></h2>
			<form method="post" action="<?php echo esc_url( $post_url ); ?>">
				<input type="hidden" name="action" value="wooforce_test_connection">
				<?php wp_nonce_field( 'wooforce_test_connection' ); ?>
				<?php submit_button( __( 'Test connection', 'wooforce' ), 'secondary', 'submit', false ); ?>
			</form>

			<h2><?php esc_html_e( 'Resync', 'wooforce' ); ?></h2>
			<form method="post" action="<?php echo esc_url( $post_url ); ?>">
				<input type="hidden" name="action" value="wooforce_resync">
				<?php wp_nonce_field( 'wooforce_resync' ); ?>
				<p>
					<label><?php esc_html_e( 'Changed since (UTC, optional):', 'wooforce' ); ?> <input type="date" name="wooforce_since"></label>
					<?php foreach ( self::RESOURCES as $resource ) : ?>
						<label><input type="checkbox" name="wooforce_resources[]" value="<?php echo esc_attr( $resource ); ?>" checked> <?php echo esc_html( $resource ); ?></label>
					<?php endforeach; ?>
				</p>
				<?php submit_button( __( 'Request resync', 'wooforce' ), 'secondary', 'submit', false ); ?>
			</form>
		</div>
		<?php
	}
}
