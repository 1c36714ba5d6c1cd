<?php
/**
 * WooCommerce > Wooforce: the checklist, the status table, the connection settings, test connection, resync.
 *
 * @package Wooforce
 */

defined( 'ABSPATH' ) || exit;

/**
 * Settings screen, its notices and its admin-post handlers. Each handler checks capability and nonce first.
 * The connection settings need manage_options; shop managers (manage_woocommerce) see the page and may resync.
 */
class Wooforce_Admin {

	const CAPABILITY          = 'manage_woocommerce';
	const SETTINGS_CAPABILITY = 'manage_options';
	const PAGE                = 'wooforce';
	const RESOURCES           = array( 'orders', 'products', 'customers' );
	const FIELDS              = array( 'connection_string', 'collector_url', 'store_id', 'secret', 'max_spool_rows' );

	/**
	 * Submenu under WooCommerce, with its help tab.
	 */
	public function add_menu() {
		$hook = add_submenu_page( 'woocommerce', __( 'Wooforce', 'wooforce' ), __( 'Wooforce', 'wooforce' ), self::CAPABILITY, self::PAGE, array( $this, 'render' ) );
		if ( $hook ) {
			add_action( 'load-' . $hook, array( $this, 'add_help_tabs' ) );
		}
	}

	/**
	 * Help tabs of the settings page.
	 */
	public function add_help_tabs() {
		$screen = get_current_screen();
		if ( ! $screen ) {
			return;
		}
		$screen->add_help_tab(
			array(
				'id'      => 'wooforce-setup',
				'title'   => __( 'Setting up', 'wooforce' ),
				'content' => '<p>' . esc_html__( 'Your Wooforce operator gives you a connection string starting with wooforce://. Paste it into "Connection string" and save: Wooforce checks it with the collector before saving it.', 'wooforce' ) . '</p><p>' . esc_html__( 'The checklist then shows every link from this shop to Salesforce. A red line says what to do next; most steps are for your operator.', 'wooforce' ) . '</p>',
			)
		);
		$screen->add_help_tab(
			array(
				'id'      => 'wooforce-status',
				'title'   => __( 'Status and errors', 'wooforce' ),
				'content' => '<p>' . esc_html__( 'Changes wait in this site\'s spool until the collector confirms it has them. If the collector is down they are sent again automatically; nothing is lost. "Last error" clears as soon as a send succeeds.', 'wooforce' ) . '</p><p>' . esc_html__( 'After a long outage, or to fill Salesforce with older records, use "Request resync".', 'wooforce' ) . '</p>',
			)
		);
		$screen->set_help_sidebar( '<p><strong>' . esc_html__( 'Wooforce', 'wooforce' ) . '</strong></p><p>' . esc_html__( 'Ask your Wooforce operator for the connection string and for the Salesforce connection.', 'wooforce' ) . '</p>' );
	}

	/**
	 * "Wooforce is not set up yet" on every admin screen until the plugin is configured (administrators only).
	 */
	public function setup_notice() {
		if ( ! current_user_can( self::SETTINGS_CAPABILITY ) || Wooforce_Settings::is_configured( Wooforce_Settings::get() ) ) {
			return;
		}
		$screen = function_exists( 'get_current_screen' ) ? get_current_screen() : null;
		if ( $screen && false !== strpos( (string) $screen->id, self::PAGE ) ) {
			return; // The settings page says it itself.
		}
		printf(
			'<div class="notice notice-warning is-dismissible wooforce-setup-notice"><p><strong>%1$s</strong> %2$s <a href="%3$s">%4$s</a></p></div>',
			esc_html__( 'Wooforce is not set up yet.', 'wooforce' ),
			esc_html__( 'Nothing reaches Salesforce until you paste the connection string your Wooforce operator gave you.', 'wooforce' ),
			esc_url( self::page_url() ),
			esc_html__( 'Set up Wooforce', 'wooforce' )
		);
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
	 * A time in the site's time zone.
	 *
	 * @param int $ts Unix time.
	 */
	public static function format_time( $ts ) {
		return wp_date( 'Y-m-d H:i:s T', (int) $ts );
	}

	/**
	 * Save settings: every field valid, then a signed ping with them, and only then saved.
	 */
	public function handle_save() {
		$this->guard( 'wooforce_save_settings', self::SETTINGS_CAPABILITY );
		$input = array();
		foreach ( self::FIELDS as $field ) {
			// Sanitized and validated field by field in Wooforce_Settings::validate().
			$input[ $field ] = isset( $_POST[ 'wooforce_' . $field ] ) ? (string) wp_unslash( $_POST[ 'wooforce_' . $field ] ) : ''; // phpcs:ignore WordPress.Security.ValidatedSanitizedInput.InputNotSanitized
		}
		list( $settings, $errors ) = Wooforce_Settings::validate( $input, Wooforce_Settings::get() );
		if ( $errors ) {
			$this->keep_form( $input, $errors );
			$this->finish( 'error', __( 'Nothing was saved: correct the fields marked below.', 'wooforce' ) );
		}
		$result = Wooforce_Client::post( $settings, 'ping', '{"ping":true}' );
		if ( ! self::ping_ok( $result ) ) {
			$message = '' !== $result['error'] ? $result['error'] : __( 'The collector gave an unexpected answer.', 'wooforce' );
			$field   = '' !== trim( $input['connection_string'] ) ? 'connection_string' : 'collector_url';
			$this->keep_form( $input, array( $field => $message ) );
			self::record_test( false, $message );
			/* translators: %s: why the check failed */
			$this->finish( 'error', sprintf( __( 'Nothing was saved: the collector did not accept these settings. %s', 'wooforce' ), $message ), $result['detail'] );
		}
		Wooforce_Settings::save( $settings );
		Wooforce_Health::forget();
		self::record_test( true, self::connected_message( $result ) );
		Wooforce_Settings::record_success();
		/* translators: %s: "Connected to the collector as ..." */
		$this->finish( 'success', sprintf( __( 'Settings saved. %s', 'wooforce' ), self::connected_message( $result ) ) );
	}

	/**
	 * Signed ping with the saved settings.
	 */
	public function handle_test_connection() {
		$this->guard( 'wooforce_test_connection', self::SETTINGS_CAPABILITY );
		$result = Wooforce_Client::post( Wooforce_Settings::get(), 'ping', '{"ping":true}' );
		if ( self::ping_ok( $result ) ) {
			self::record_test( true, self::connected_message( $result ) );
			Wooforce_Settings::record_success();
			$entry = Wooforce_Health::refresh();
			$more  = Wooforce_Health::connected( $entry ) ? __( 'Data reaches Salesforce.', 'wooforce' ) : __( 'But data does not reach Salesforce yet: see the checklist for what is missing.', 'wooforce' );
			$this->finish( Wooforce_Health::connected( $entry ) ? 'success' : 'warning', self::connected_message( $result ) . ' ' . $more );
		}
		$message = '' !== $result['error'] ? $result['error'] : __( 'The collector gave an unexpected answer.', 'wooforce' );
		self::record_test( false, $message );
		Wooforce_Settings::record_error( $message, $result['detail'] );
		Wooforce_Health::forget();
		/* translators: %s: why */
		$this->finish( 'error', sprintf( __( 'Connection failed: %s', 'wooforce' ), $message ), $result['detail'] );
	}

	/**
	 * Ask the collector again for the checklist.
	 */
	public function handle_check() {
		$this->guard( 'wooforce_check', self::CAPABILITY );
		Wooforce_Health::refresh();
		wp_safe_redirect( self::page_url() );
		exit;
	}

	/**
	 * Ask the collector for a resync: at least one kind of record, a date not in the future.
	 */
	public function handle_resync() {
		$this->guard( 'wooforce_resync', self::CAPABILITY );
		$since         = isset( $_POST['wooforce_since'] ) ? sanitize_text_field( wp_unslash( $_POST['wooforce_since'] ) ) : '';
		$since_rfc3339 = null;
		if ( '' !== $since ) {
			$zone = wp_timezone();
			$date = DateTimeImmutable::createFromFormat( '!Y-m-d', $since, $zone );
			if ( ! $date || $date->format( 'Y-m-d' ) !== $since ) {
				$this->finish( 'error', __( 'Enter the date as YYYY-MM-DD, or leave it empty to resync everything.', 'wooforce' ) );
			}
			if ( $date > new DateTimeImmutable( 'now', $zone ) ) {
				$this->finish( 'error', __( 'The date may not be in the future: choose today or an earlier day.', 'wooforce' ) );
			}
			$since_rfc3339 = $date->setTimezone( new DateTimeZone( 'UTC' ) )->format( 'Y-m-d\TH:i:s\Z' );
		}
		$resources = isset( $_POST['wooforce_resources'] ) ? array_map( 'sanitize_key', (array) wp_unslash( $_POST['wooforce_resources'] ) ) : array();
		$resources = array_values( array_intersect( self::RESOURCES, $resources ) );
		if ( ! $resources ) {
			$this->finish( 'error', __( 'Choose at least one kind of record to resync (orders, products or customers).', 'wooforce' ) );
		}
		$body   = wp_json_encode( array( 'since' => $since_rfc3339, 'resources' => $resources ) );
		$result = Wooforce_Client::post( Wooforce_Settings::get(), 'resync', $body );
		if ( $result['status'] >= 200 && $result['status'] < 300 && ! empty( $result['json']['job_id'] ) ) {
			update_option( Wooforce_Health::JOB_OPTION, array( 'job_id' => (string) $result['json']['job_id'], 'requested_at' => time() ), false );
			$this->finish( 'success', __( 'Resync requested. Its progress shows under "Resync" below.', 'wooforce' ) );
		}
		/* translators: %s: why */
		$this->finish( 'error', sprintf( __( 'The resync could not be requested: %s', 'wooforce' ), $result['error'] ), $result['detail'] );
	}

	/**
	 * A ping that the collector answered as expected.
	 *
	 * @param array $result From Wooforce_Client::post().
	 */
	private static function ping_ok( array $result ) {
		return 200 === $result['status'] && ! empty( $result['json']['ok'] );
	}

	/**
	 * "Connected to the collector as ...".
	 *
	 * @param array $result A successful ping.
	 */
	private static function connected_message( array $result ) {
		$name = isset( $result['json']['store_name'] ) ? (string) $result['json']['store_name'] : '';
		/* translators: %s: store name registered in the collector */
		return sprintf( __( 'Connected: the collector knows this store as "%s".', 'wooforce' ), $name );
	}

	/**
	 * Remember the last test's time and result.
	 *
	 * @param bool   $ok      Whether it worked.
	 * @param string $message What it said.
	 */
	private static function record_test( $ok, $message ) {
		Wooforce_Settings::update_status(
			array(
				'last_test_at'      => time(),
				'last_test_ok'      => (bool) $ok,
				'last_test_message' => $message,
			)
		);
	}

	/**
	 * Keep what was typed (never the secret, nor the string that holds it) and the errors for the next view.
	 *
	 * @param array $input  Raw input.
	 * @param array $errors Message per field.
	 */
	private function keep_form( array $input, array $errors ) {
		unset( $input['secret'], $input['connection_string'] );
		set_transient( 'wooforce_form_' . get_current_user_id(), array( 'values' => $input, 'errors' => $errors ), 5 * MINUTE_IN_SECONDS );
	}

	/**
	 * Capability, then nonce. Either failing stops the request before anything changes.
	 *
	 * @param string $action     Nonce action.
	 * @param string $capability Capability needed.
	 */
	private function guard( $action, $capability ) {
		if ( ! current_user_can( $capability ) ) {
			wp_die( esc_html__( 'Sorry, you are not allowed to manage Wooforce.', 'wooforce' ), 403 );
		}
		check_admin_referer( $action );
	}

	/**
	 * Keep a notice for the next page view and go back to the settings page.
	 *
	 * @param string $type    success, warning or error.
	 * @param string $message Plain text.
	 * @param string $detail  Technical detail, folded beneath.
	 */
	private function finish( $type, $message, $detail = '' ) {
		set_transient( 'wooforce_notice_' . get_current_user_id(), array( 'type' => $type, 'message' => $message, 'detail' => $detail ), MINUTE_IN_SECONDS );
		wp_safe_redirect( self::page_url() );
		exit;
	}

	/**
	 * A message with its technical detail folded beneath.
	 *
	 * @param string $message Plain words.
	 * @param string $detail  Technical detail.
	 */
	private static function message_html( $message, $detail ) {
		$html = esc_html( $message );
		if ( '' !== (string) $detail ) {
			$html .= '<details class="wooforce-detail"><summary>' . esc_html__( 'Technical details', 'wooforce' ) . '</summary><code>' . esc_html( $detail ) . '</code></details>';
		}
		return $html;
	}

	/**
	 * The settings page.
	 */
	public function render() {
		if ( ! current_user_can( self::CAPABILITY ) ) {
			wp_die( esc_html__( 'Sorry, you are not allowed to manage Wooforce.', 'wooforce' ), 403 );
		}
		$uid      = get_current_user_id();
		$settings = Wooforce_Settings::get();
		$status   = Wooforce_Settings::status();
		$counts   = Wooforce_Spool::counts();
		$notice   = get_transient( 'wooforce_notice_' . $uid );
		$form     = get_transient( 'wooforce_form_' . $uid );
		delete_transient( 'wooforce_notice_' . $uid );
		delete_transient( 'wooforce_form_' . $uid );
		$values   = is_array( $form ) ? $form['values'] : array();
		$errors   = is_array( $form ) ? $form['errors'] : array();
		$admin    = current_user_can( self::SETTINGS_CAPABILITY );
		$entry    = Wooforce_Health::current();
		$job      = Wooforce_Health::last_job();
		$post_url = admin_url( 'admin-post.php' );
		$value    = static function ( $field ) use ( $values, $settings ) {
			return array_key_exists( $field, $values ) ? (string) $values[ $field ] : ( isset( $settings[ $field ] ) ? (string) $settings[ $field ] : '' );
		};
		$field_error = static function ( $field ) use ( $errors ) {
			if ( isset( $errors[ $field ] ) ) {
				echo '<p class="wooforce-field-error" style="color:#b32d2e" id="wooforce_' . esc_attr( $field ) . '_error">' . esc_html( $errors[ $field ] ) . '</p>';
			}
		};
		// Dashicons ship with wp-admin (an emoji would be swapped for an image fetched from wordpress.org).
		$icons = array(
			'ok'   => '<span class="dashicons dashicons-yes-alt" style="color:#00a32a" aria-hidden="true"></span>',
			'warn' => '<span class="dashicons dashicons-warning" style="color:#dba617" aria-hidden="true"></span>',
			'fail' => '<span class="dashicons dashicons-dismiss" style="color:#d63638" aria-hidden="true"></span>',
		);
		$state_words = array(
			'ok'   => __( 'OK:', 'wooforce' ),
			'warn' => __( 'Warning:', 'wooforce' ),
			'fail' => __( 'Problem:', 'wooforce' ),
		);
		?>
		<div class="wrap">
			<h1><?php esc_html_e( 'Wooforce', 'wooforce' ); ?></h1>
			<?php if ( is_array( $notice ) ) : ?>
				<div class="notice notice-<?php echo esc_attr( in_array( $notice['type'], array( 'success', 'warning' ), true ) ? $notice['type'] : 'error' ); ?> is-dismissible"><p><?php echo self::message_html( $notice['message'], isset( $notice['detail'] ) ? $notice['detail'] : '' ); // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped -- escaped in message_html ?></p></div>
			<?php endif; ?>
			<?php if ( $status['dropped'] > 0 ) : ?>
				<div class="notice notice-warning is-dismissible"><p>
					<?php
					/* translators: %d: number of events */
					echo esc_html( sprintf( __( 'The spool was full: %d older changes were dropped. Run a resync to bring Salesforce up to date.', 'wooforce' ), $status['dropped'] ) );
					?>
				</p></div>
			<?php endif; ?>
			<?php $cron_late = Wooforce_Plugin::cron_stalled_s(); ?>
			<?php if ( $cron_late > 0 ) : ?>
				<div class="notice notice-warning wooforce-cron-stalled"><p>
					<strong><?php esc_html_e( 'WP-Cron looks stalled:', 'wooforce' ); ?></strong>
					<?php
					/* translators: %d: minutes */
					echo esc_html( sprintf( __( 'its every-minute Wooforce job has not run for %d minutes, so changes wait in the spool. WP-Cron runs only when someone visits the site, and not at all when DISABLE_WP_CRON is set without a system cron.', 'wooforce' ), intdiv( $cron_late, MINUTE_IN_SECONDS ) ) );
					?>
					</p><p><?php esc_html_e( 'Set up a system cron that runs WordPress\'s due jobs every minute, for example in the crontab of the web server\'s user:', 'wooforce' ); ?></p>
					<p><code><?php echo esc_html( '* * * * * curl -fsS ' . site_url( 'wp-cron.php?doing_wp_cron' ) . ' >/dev/null' ); ?></code></p>
					<p><?php esc_html_e( 'or, with WP-CLI:', 'wooforce' ); ?> <code><?php echo esc_html( '* * * * * wp cron event run --due-now --path=' . untrailingslashit( ABSPATH ) ); ?></code></p>
					<p><?php esc_html_e( 'Then add define( \'DISABLE_WP_CRON\', true ); to wp-config.php so that visits no longer start it.', 'wooforce' ); ?>
				</p></div>
			<?php endif; ?>

			<h2><?php esc_html_e( 'Checklist', 'wooforce' ); ?></h2>
			<?php if ( null === $entry ) : ?>
				<p class="wooforce-headline"><?php esc_html_e( 'Wooforce is not set up yet: paste the connection string your Wooforce operator gave you below, then save.', 'wooforce' ); ?></p>
			<?php else : ?>
				<p class="wooforce-headline"><strong>
					<?php echo esc_html( Wooforce_Health::connected( $entry ) ? __( 'Connected: data reaches Salesforce.', 'wooforce' ) : __( 'Not connected: data does not reach Salesforce yet.', 'wooforce' ) ); ?>
				</strong>
				<?php /* translators: %s: date and time */ echo esc_html( sprintf( __( '(checked %s)', 'wooforce' ), self::format_time( $entry['at'] ) ) ); ?></p>
				<ul class="wooforce-checklist" style="margin-left:0">
					<?php foreach ( Wooforce_Health::lines( $entry ) as $line ) : ?>
						<li class="wooforce-check wooforce-check-<?php echo esc_attr( $line['state'] ); ?>" data-check="<?php echo esc_attr( $line['id'] ); ?>" data-state="<?php echo esc_attr( $line['state'] ); ?>">
							<?php echo $icons[ $line['state'] ]; // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped -- constant markup ?>
							<span class="screen-reader-text"><?php echo esc_html( $state_words[ $line['state'] ] ); ?></span>
							<strong><?php echo esc_html( $line['label'] ); ?></strong>
							<?php if ( '' !== $line['next'] ) : ?>
								<br><span class="wooforce-next" style="margin-left:24px;display:inline-block"><?php echo self::message_html( $line['next'], $line['detail'] ); // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped -- escaped in message_html ?></span>
							<?php endif; ?>
						</li>
					<?php endforeach; ?>
				</ul>
				<form method="post" action="<?php echo esc_url( $post_url ); ?>">
					<input type="hidden" name="action" value="wooforce_check">
					<?php wp_nonce_field( 'wooforce_check' ); ?>
					<?php submit_button( __( 'Check again', 'wooforce' ), 'secondary', 'submit', false ); ?>
				</form>
			<?php endif; ?>
			<?php do_action( 'wooforce_settings_after_checklist', $entry ); ?>

			<h2><?php esc_html_e( 'Status', 'wooforce' ); ?></h2>
			<table class="widefat striped wooforce-status" style="max-width:48em"><tbody>
				<tr><th><?php esc_html_e( 'Last connection test', 'wooforce' ); ?></th><td class="wooforce-last-test"><?php echo esc_html( $status['last_test_at'] ? self::format_time( $status['last_test_at'] ) . ': ' . ( $status['last_test_ok'] ? __( 'worked', 'wooforce' ) : __( 'failed', 'wooforce' ) ) . ' (' . $status['last_test_message'] . ')' : __( 'never', 'wooforce' ) ); ?></td></tr>
				<tr><th><?php esc_html_e( 'Last successful send', 'wooforce' ); ?></th><td class="wooforce-last-success"><?php echo esc_html( $status['last_success'] ? self::format_time( $status['last_success'] ) : __( 'never', 'wooforce' ) ); ?></td></tr>
				<tr><th><?php esc_html_e( 'Changes waiting in the spool', 'wooforce' ); ?></th><td><?php echo esc_html( number_format_i18n( $counts['queued'] ) . ' / ' . number_format_i18n( $settings['max_spool_rows'] ) ); ?></td></tr>
				<tr><th><?php esc_html_e( 'Refused changes (set aside, not retried)', 'wooforce' ); ?></th><td><?php echo esc_html( number_format_i18n( $counts['poisoned'] ) ); ?></td></tr>
				<tr><th><?php esc_html_e( 'Dropped changes (spool full)', 'wooforce' ); ?></th><td><?php echo esc_html( number_format_i18n( $status['dropped'] ) ); ?></td></tr>
				<tr><th><?php esc_html_e( 'Last error', 'wooforce' ); ?></th><td class="wooforce-last-error"><?php echo $status['last_error'] ? esc_html( self::format_time( $status['last_error_at'] ) . ': ' ) . self::message_html( $status['last_error'], $status['last_error_detail'] ) : esc_html__( 'none', 'wooforce' ); // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped -- escaped in message_html ?></td></tr>
			</tbody></table>

			<?php if ( $admin ) : ?>
			<h2><?php esc_html_e( 'Connection', 'wooforce' ); ?></h2>
			<form method="post" action="<?php echo esc_url( $post_url ); ?>" class="wooforce-settings" novalidate>
				<input type="hidden" name="action" value="wooforce_save_settings">
				<?php wp_nonce_field( 'wooforce_save_settings' ); ?>
				<table class="form-table" role="presentation">
					<tr><th scope="row"><label for="wooforce_connection_string"><?php esc_html_e( 'Connection string', 'wooforce' ); ?></label></th>
						<td><textarea class="large-text code" rows="3" id="wooforce_connection_string" name="wooforce_connection_string" placeholder="wooforce://..." autocomplete="off" spellcheck="false"></textarea>
						<?php $field_error( 'connection_string' ); ?>
						<p class="description"><?php esc_html_e( 'Paste the connection string your Wooforce operator gave you (it starts with wooforce://). It holds the collector address, the store id and the secret.', 'wooforce' ); ?></p></td></tr>
				</table>
				<details<?php echo ( array_intersect_key( $errors, array_flip( array( 'collector_url', 'store_id', 'secret', 'max_spool_rows' ) ) ) ) ? ' open' : ''; ?>>
					<summary><?php esc_html_e( 'Advanced: separate fields', 'wooforce' ); ?></summary>
					<table class="form-table" role="presentation">
						<tr><th scope="row"><label for="wooforce_collector_url"><?php esc_html_e( 'Collector URL', 'wooforce' ); ?></label></th>
							<td><input type="url" class="regular-text" id="wooforce_collector_url" name="wooforce_collector_url" value="<?php echo esc_attr( $value( 'collector_url' ) ); ?>" placeholder="https://collector.example.com">
							<?php $field_error( 'collector_url' ); ?>
							<p class="description"><?php esc_html_e( 'https:// is required; http:// only for localhost.', 'wooforce' ); ?></p></td></tr>
						<tr><th scope="row"><label for="wooforce_store_id"><?php esc_html_e( 'Store id', 'wooforce' ); ?></label></th>
							<td><input type="text" class="regular-text" id="wooforce_store_id" name="wooforce_store_id" value="<?php echo esc_attr( $value( 'store_id' ) ); ?>">
							<?php $field_error( 'store_id' ); ?></td></tr>
						<tr><th scope="row"><label for="wooforce_secret"><?php esc_html_e( 'Secret', 'wooforce' ); ?></label></th>
							<td><input type="password" class="regular-text" id="wooforce_secret" name="wooforce_secret" value="" autocomplete="new-password" placeholder="<?php echo esc_attr( '' !== $settings['secret'] ? __( '(stored; leave empty to keep it)', 'wooforce' ) : 'whsec_...' ); ?>">
							<?php $field_error( 'secret' ); ?></td></tr>
						<tr><th scope="row"><label for="wooforce_max_spool_rows"><?php esc_html_e( 'Spool limit (changes)', 'wooforce' ); ?></label></th>
							<td><input type="number" min="100" id="wooforce_max_spool_rows" name="wooforce_max_spool_rows" value="<?php echo esc_attr( $value( 'max_spool_rows' ) ); ?>">
							<?php $field_error( 'max_spool_rows' ); ?></td></tr>
					</table>
				</details>
				<?php submit_button( __( 'Save and check', 'wooforce' ) ); ?>
			</form>
			<form method="post" action="<?php echo esc_url( $post_url ); ?>">
				<input type="hidden" name="action" value="wooforce_test_connection">
				<?php wp_nonce_field( 'wooforce_test_connection' ); ?>
				<?php submit_button( __( 'Test connection', 'wooforce' ), 'secondary', 'submit', false ); ?>
			</form>
			<?php endif; ?>

			<h2><?php esc_html_e( 'Resync', 'wooforce' ); ?></h2>
			<?php if ( null !== $job ) : ?>
				<?php $words = null !== $job['job'] ? Wooforce_Health::job_words( $job['job'] ) : array( 'state' => 'warn', 'label' => $job['error'], 'next' => '', 'detail' => $job['detail'] ); ?>
				<p class="wooforce-job wooforce-job-<?php echo esc_attr( $words['state'] ); ?>" data-state="<?php echo esc_attr( $words['state'] ); ?>">
					<?php /* translators: %s: date and time */ echo esc_html( sprintf( __( 'Last resync, requested %s:', 'wooforce' ), self::format_time( $job['requested_at'] ) ) ); ?>
					<strong><?php echo esc_html( $words['label'] ); ?></strong>
					<?php if ( '' !== $words['next'] || '' !== $words['detail'] ) : ?>
						<br><?php echo self::message_html( $words['next'], $words['detail'] ); // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped -- escaped in message_html ?>
					<?php endif; ?>
				</p>
			<?php endif; ?>
			<form method="post" action="<?php echo esc_url( $post_url ); ?>">
				<input type="hidden" name="action" value="wooforce_resync">
				<?php wp_nonce_field( 'wooforce_resync' ); ?>
				<p>
					<label><?php esc_html_e( 'Changed since (optional):', 'wooforce' ); ?> <input type="date" name="wooforce_since" max="<?php echo esc_attr( wp_date( 'Y-m-d' ) ); ?>"></label>
					<?php
					$labels = array(
						'orders'    => __( 'Orders', 'wooforce' ),
						'products'  => __( 'Products', 'wooforce' ),
						'customers' => __( 'Customers', 'wooforce' ),
					);
					foreach ( self::RESOURCES as $resource ) :
						?>
						<label><input type="checkbox" name="wooforce_resources[]" value="<?php echo esc_attr( $resource ); ?>" checked> <?php echo esc_html( $labels[ $resource ] ); ?></label>
					<?php endforeach; ?>
				</p>
				<?php submit_button( __( 'Request resync', 'wooforce' ), 'secondary', 'submit', false ); ?>
			</form>
		</div>
		<?php
	}
}
