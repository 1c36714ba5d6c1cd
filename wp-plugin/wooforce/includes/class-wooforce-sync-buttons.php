<?php
/**
 * Sync buttons where store owners work (issue 17): on the order, product and user edit screens, the entity's sync
 * state as the collector knows it (in Salesforce and since when; waiting; or failed, with the error as text) and a
 * Sync now button; on the settings page, the store-wide state and a link to the Wooforce console.
 *
 * The state comes from a signed POST .../entities/{resource}/{id}/state, kept a few seconds in a transient
 * (prime() asks for a whole list screen in one call); Sync now is a signed POST .../entities/{resource}/{id}/sync
 * through admin-ajax, with a capability (manage_woocommerce) and a per-entity nonce check.
 *
 * @package Wooforce
 */

defined( 'ABSPATH' ) || exit;

/**
 * Metaboxes, the user-profile section, the Sync now handler and the settings page's store-wide state.
 */
class Wooforce_Sync_Buttons {

	const CAPABILITY  = 'manage_woocommerce';
	const AJAX_ACTION = 'wooforce_sync_entity';
	const TRANSIENT   = 'wooforce_state_';
	const CACHE_S     = 10;
	const RESOURCES   = array( 'order', 'product', 'customer' );

	/**
	 * Whether the button script was printed on this page.
	 *
	 * @var bool
	 */
	private $script_printed = false;

	/**
	 * Metaboxes on the order (posts and HPOS screens) and product edit screens.
	 */
	public function add_meta_boxes() {
		if ( ! current_user_can( self::CAPABILITY ) ) {
			return;
		}
		foreach ( array( 'shop_order', 'woocommerce_page_wc-orders' ) as $screen ) {
			add_meta_box( 'wooforce-sync', __( 'Salesforce', 'wooforce' ), array( $this, 'order_box' ), $screen, 'side', 'default' );
		}
		add_meta_box( 'wooforce-sync', __( 'Salesforce', 'wooforce' ), array( $this, 'product_box' ), 'product', 'side', 'default' );
	}

	/**
	 * The order's box.
	 *
	 * @param WP_Post|WC_Order|object $post_or_order What WordPress or WooCommerce passes.
	 */
	public function order_box( $post_or_order ) {
		$id = self::id_of( $post_or_order );
		if ( ! $id || Wooforce_Plugin::is_draft_order( $id ) ) {
			echo '<p class="wooforce-sync-draft">' . esc_html__( 'A draft order is not sent to Salesforce. It is sent once the order is created.', 'wooforce' ) . '</p>';
			return;
		}
		$this->render( 'order', $id );
	}

	/**
	 * The product's box.
	 *
	 * @param WP_Post $post The product.
	 */
	public function product_box( $post ) {
		$id = self::id_of( $post );
		if ( ! $id || 'auto-draft' === get_post_status( $id ) ) {
			echo '<p class="wooforce-sync-draft">' . esc_html__( 'Save the product first: it is sent to Salesforce once it is saved.', 'wooforce' ) . '</p>';
			return;
		}
		$this->render( 'product', $id );
	}

	/**
	 * The section on a customer's user edit screen (show_user_profile / edit_user_profile).
	 *
	 * @param WP_User $user The user shown.
	 */
	public function user_section( $user ) {
		if ( ! current_user_can( self::CAPABILITY ) || ! ( $user instanceof WP_User ) || ! Wooforce_Plugin::is_customer( $user->ID ) ) {
			return;
		}
		echo '<h2>' . esc_html__( 'Salesforce', 'wooforce' ) . '</h2>';
		$this->render( 'customer', (int) $user->ID );
	}

	/**
	 * One entity's state and its Sync now button.
	 *
	 * @param string $resource order, product or customer.
	 * @param int    $id       WooCommerce id.
	 */
	public function render( $resource, $id ) {
		if ( ! Wooforce_Settings::is_configured( Wooforce_Settings::get() ) ) {
			echo '<p>' . esc_html__( 'Wooforce is not set up yet.', 'wooforce' ) . '</p>';
			return;
		}
		echo self::box_html( $resource, $id, self::state( $resource, $id ) ); // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped -- escaped in box_html
		$this->print_script();
	}

	/**
	 * The collector's answer for one entity, from the cache when it is a few seconds old at most.
	 *
	 * @param string $resource order, product or customer.
	 * @param int    $id       WooCommerce id.
	 * @return array{ok:bool,state:array|null,error:string,detail:string}
	 */
	public static function state( $resource, $id ) {
		$cached = get_transient( self::cache_key( $resource, $id ) );
		if ( is_array( $cached ) ) {
			return $cached;
		}
		$result = Wooforce_Client::post( Wooforce_Settings::get(), 'entities/' . rawurlencode( $resource ) . '/' . (int) $id . '/state', '{}' );
		$ok     = 200 === $result['status'] && is_array( $result['json'] ) && isset( $result['json']['state'] );
		return self::remember( $resource, $id, self::entry( $ok, $ok ? $result['json'] : null, $result ) );
	}

	/**
	 * Ask for many entities in one call (a list screen) and cache each answer.
	 *
	 * @param array[] $entities Each array(resource, id).
	 * @return int How many were asked for (those not cached).
	 */
	public static function prime( array $entities ) {
		$wanted = array();
		foreach ( $entities as $entity ) {
			list( $resource, $id ) = $entity;
			if ( ! is_array( get_transient( self::cache_key( $resource, $id ) ) ) ) {
				$wanted[ $resource . ':' . (int) $id ] = array( 'resource' => (string) $resource, 'id' => (int) $id );
			}
		}
		foreach ( array_chunk( array_values( $wanted ), 100 ) as $chunk ) {
			$result = Wooforce_Client::post( Wooforce_Settings::get(), 'entities/state', wp_json_encode( array( 'entities' => $chunk ) ) );
			$states = 200 === $result['status'] && isset( $result['json']['entities'] ) && is_array( $result['json']['entities'] ) ? $result['json']['entities'] : array();
			foreach ( $states as $state ) {
				if ( is_array( $state ) && isset( $state['resource'], $state['id'], $state['state'] ) ) {
					self::remember( $state['resource'], (int) $state['id'], self::entry( true, $state, $result ) );
				}
			}
		}
		return count( $wanted );
	}

	/**
	 * Sync now (admin-ajax): capability, the entity's nonce, then the signed call; answers the box's new HTML.
	 */
	public function handle_sync() {
		if ( ! current_user_can( self::CAPABILITY ) ) {
			wp_send_json_error( array( 'message' => __( 'Sorry, you are not allowed to sync with Salesforce.', 'wooforce' ) ), 403 );
		}
		$resource = isset( $_POST['resource'] ) ? sanitize_key( wp_unslash( $_POST['resource'] ) ) : ''; // phpcs:ignore WordPress.Security.NonceVerification.Missing -- checked below, per entity
		$id       = isset( $_POST['id'] ) ? absint( wp_unslash( $_POST['id'] ) ) : 0; // phpcs:ignore WordPress.Security.NonceVerification.Missing
		if ( ! in_array( $resource, self::RESOURCES, true ) || $id <= 0 ) {
			wp_send_json_error( array( 'message' => __( 'Nothing to sync: unknown record.', 'wooforce' ) ), 400 );
		}
		check_ajax_referer( self::nonce_action( $resource, $id ), 'nonce' );
		$result = Wooforce_Client::post( Wooforce_Settings::get(), 'entities/' . $resource . '/' . $id . '/sync', '{}' );
		$ok     = 202 === $result['status'] && isset( $result['json']['state'] ) && is_array( $result['json']['state'] );
		if ( ! $ok ) {
			$error = '' !== $result['error'] ? $result['error'] : __( 'The collector gave an answer Wooforce does not understand. Ask your Wooforce operator to update the collector.', 'wooforce' );
			wp_send_json_error( array( 'message' => $error, 'detail' => $result['detail'] ), 502 );
		}
		$entry = self::remember( $resource, $id, self::entry( true, $result['json']['state'], $result ) );
		$words = 'job' === ( isset( $result['json']['queued'] ) ? $result['json']['queued'] : '' )
			? __( 'Requested: Wooforce reads it from the store and sends it to Salesforce shortly.', 'wooforce' )
			: __( 'Queued: it is sent to Salesforce now.', 'wooforce' );
		wp_send_json_success(
			array(
				'message' => $words,
				'state'   => $entry['state']['state'],
				'html'    => self::box_html( $resource, $id, $entry, $words ),
			)
		);
	}

	/**
	 * The box: the state in words, the error as text, the console link and the button.
	 *
	 * @param string $resource order, product or customer.
	 * @param int    $id       WooCommerce id.
	 * @param array  $entry    From state().
	 * @param string $notice   What the last click did.
	 */
	public static function box_html( $resource, $id, array $entry, $notice = '' ) {
		$words = self::words( $entry );
		$html  = '<div class="wooforce-sync" data-resource="' . esc_attr( $resource ) . '" data-id="' . esc_attr( (string) (int) $id ) . '" data-state="' . esc_attr( $words['state'] ) . '">';
		if ( '' !== $notice ) {
			$html .= '<p class="wooforce-sync-notice"><em>' . esc_html( $notice ) . '</em></p>';
		}
		$html .= '<p class="wooforce-sync-label"><strong>' . esc_html( $words['label'] ) . '</strong></p>';
		foreach ( $words['lines'] as $line ) {
			$html .= '<p class="wooforce-sync-line">' . esc_html( $line ) . '</p>';
		}
		if ( '' !== $words['error'] ) {
			$html .= '<pre class="wooforce-sync-error" style="white-space:pre-wrap;max-height:12em;overflow:auto">' . esc_html( $words['error'] ) . '</pre>';
		}
		if ( current_user_can( self::CAPABILITY ) ) {
			$html .= '<p><button type="button" class="button wooforce-sync-now" data-nonce="' . esc_attr( wp_create_nonce( self::nonce_action( $resource, $id ) ) ) . '">' . esc_html__( 'Sync now', 'wooforce' ) . '</button> ';
			$html .= '<a href="' . esc_url( self::console_url( $resource, $id ) ) . '" target="_blank" rel="noopener noreferrer">' . esc_html__( 'Open in the Wooforce console', 'wooforce' ) . '</a></p>';
		}
		return $html . '</div>';
	}

	/**
	 * The state in words.
	 *
	 * @param array $entry From state().
	 * @return array{state:string,label:string,lines:string[],error:string}
	 */
	public static function words( array $entry ) {
		if ( ! $entry['ok'] ) {
			return array( 'state' => 'unknown', 'label' => __( 'The sync state is not available right now', 'wooforce' ), 'lines' => array( $entry['error'] ), 'error' => $entry['detail'] );
		}
		$s     = $entry['state'];
		$error = isset( $s['error'] ) ? (string) $s['error'] : '';
		switch ( $s['state'] ) {
			case 'synced':
				$lines = array();
				if ( ! empty( $s['sf_id'] ) ) {
					/* translators: %s: Salesforce record Id */
					$lines[] = sprintf( __( 'Salesforce record: %s', 'wooforce' ), $s['sf_id'] );
				}
				/* translators: %s: date and time */
				return array( 'state' => 'synced', 'label' => sprintf( __( 'In Salesforce (sent %s)', 'wooforce' ), Wooforce_Health::when( isset( $s['delivered_at'] ) ? $s['delivered_at'] : null ) ), 'lines' => $lines, 'error' => '' );
			case 'waiting':
				$lines = array();
				if ( ! empty( $s['delivered_at'] ) ) {
					/* translators: %s: date and time */
					$lines[] = sprintf( __( 'Last sent %s; this change is not there yet.', 'wooforce' ), Wooforce_Health::when( $s['delivered_at'] ) );
				}
				if ( ! empty( $s['retry_at'] ) ) {
					/* translators: %s: date and time */
					$lines[] = sprintf( __( 'The last try failed; Wooforce tries again %s.', 'wooforce' ), Wooforce_Health::when( $s['retry_at'] ) );
					return array( 'state' => 'waiting', 'label' => __( 'Waiting: Salesforce did not take it yet', 'wooforce' ), 'lines' => $lines, 'error' => $error );
				}
				if ( null === $s['status'] ) {
					return array( 'state' => 'waiting', 'label' => __( 'Waiting: Wooforce reads it from the store, then sends it', 'wooforce' ), 'lines' => $lines, 'error' => '' );
				}
				return array( 'state' => 'waiting', 'label' => __( 'Waiting to be sent to Salesforce', 'wooforce' ), 'lines' => $lines, 'error' => '' );
			case 'failed':
				$lines = array( __( 'Wooforce stopped trying. Fix what the error says (in the store or in Salesforce), then click Sync now.', 'wooforce' ) );
				return array( 'state' => 'failed', 'label' => __( 'Not in Salesforce: sending failed', 'wooforce' ), 'lines' => $lines, 'error' => $error );
		}
		return array( 'state' => 'not_synced', 'label' => __( 'Not sent to Salesforce yet', 'wooforce' ), 'lines' => array( __( 'Wooforce has not received this record. Click Sync now to send it.', 'wooforce' ) ), 'error' => '' );
	}

	/**
	 * The settings page's store-wide state (after the checklist): backlog, dead letters, last delivery, last
	 * reconcile, webhooks, and the console.
	 *
	 * @param array|null $entry Wooforce_Health::current().
	 */
	public function store_state( $entry ) {
		if ( ! is_array( $entry ) || empty( $entry['ok'] ) ) {
			return;
		}
		$health = $entry['health'];
		$checks = array();
		foreach ( (array) $health['checks'] as $check ) {
			if ( is_array( $check ) && isset( $check['id'] ) ) {
				$checks[ $check['id'] ] = $check;
			}
		}
		$delivery = isset( $checks['delivery'] ) ? $checks['delivery'] : array();
		$webhooks = isset( $checks['webhooks'] ) ? $checks['webhooks'] : array();
		$run      = isset( $health['last_reconcile'] ) && is_array( $health['last_reconcile'] ) ? $health['last_reconcile'] : null;
		$outcomes = array(
			'ok'          => __( 'found everything in step', 'wooforce' ),
			'auth_failed' => __( 'the WooCommerce REST keys were refused', 'wooforce' ),
			'retrying'    => __( 'the store did not answer; tried again later', 'wooforce' ),
			'failed'      => __( 'failed', 'wooforce' ),
		);
		if ( null === $run ) {
			$reconcile = __( 'never', 'wooforce' );
		} else {
			$outcome   = isset( $outcomes[ $run['outcome'] ] ) ? $outcomes[ $run['outcome'] ] : (string) $run['outcome'];
			$reconcile = Wooforce_Health::when( $run['started_at'] ) . ': ' . $outcome . ( empty( $run['error'] ) || 'ok' === $run['outcome'] ? '' : ' (' . $run['error'] . ')' );
		}
		$rows = array(
			'backlog'   => array( __( 'Changes waiting for Salesforce', 'wooforce' ), number_format_i18n( isset( $delivery['backlog'] ) ? (int) $delivery['backlog'] : 0 ) ),
			'dead'      => array( __( 'Changes Salesforce did not take (dead letters)', 'wooforce' ), number_format_i18n( isset( $delivery['dead'] ) ? (int) $delivery['dead'] : 0 ) ),
			'delivered' => array( __( 'Last delivery to Salesforce', 'wooforce' ), Wooforce_Health::when( isset( $delivery['last_delivered_at'] ) ? $delivery['last_delivered_at'] : null ) ),
			'reconcile' => array( __( 'Last check of the store for missed changes', 'wooforce' ), $reconcile ),
			'webhooks'  => array( __( 'WooCommerce webhooks', 'wooforce' ), isset( $webhooks['status'] ) && 'configured' === $webhooks['status'] ? sprintf( /* translators: %s: date and time */ __( 'set up; last change received %s', 'wooforce' ), Wooforce_Health::when( isset( $webhooks['last_event_at'] ) ? $webhooks['last_event_at'] : null ) ) : __( 'not used (this plugin sends the changes)', 'wooforce' ) ),
		);
		echo '<h2>' . esc_html__( 'Sync state of the store', 'wooforce' ) . '</h2>';
		echo '<table class="widefat striped wooforce-store-state" style="max-width:48em"><tbody>';
		foreach ( $rows as $key => $row ) {
			echo '<tr data-row="' . esc_attr( $key ) . '"><th>' . esc_html( $row[0] ) . '</th><td>' . esc_html( $row[1] ) . '</td></tr>';
		}
		echo '</tbody></table>';
		$console = ! empty( $health['console_url'] ) ? (string) $health['console_url'] : self::console_url();
		echo '<p><a class="wooforce-console-link" href="' . esc_url( $console ) . '" target="_blank" rel="noopener noreferrer">' . esc_html__( 'Open this store in the Wooforce console', 'wooforce' ) . '</a></p>';
	}

	/**
	 * The console's page of this store's changes, or of one entity; on the collector's address.
	 *
	 * @param string $resource order, product or customer ('' for the store).
	 * @param int    $id       WooCommerce id.
	 */
	public static function console_url( $resource = '', $id = 0 ) {
		$settings = Wooforce_Settings::get();
		$base     = rtrim( (string) $settings['collector_url'], '/' ) . '/console/outbox';
		if ( '' === $resource ) {
			return $base . '?store=' . rawurlencode( (string) $settings['store_id'] );
		}
		return $base . '/' . rawurlencode( (string) $settings['store_id'] ) . '/' . rawurlencode( $resource ) . '/' . (int) $id;
	}

	/**
	 * The nonce action of one entity's button.
	 *
	 * @param string $resource order, product or customer.
	 * @param int    $id       WooCommerce id.
	 */
	public static function nonce_action( $resource, $id ) {
		return self::AJAX_ACTION . '_' . $resource . '_' . (int) $id;
	}

	/**
	 * The transient of one entity's state.
	 *
	 * @param string $resource order, product or customer.
	 * @param int    $id       WooCommerce id.
	 */
	public static function cache_key( $resource, $id ) {
		return self::TRANSIENT . $resource . '_' . (int) $id;
	}

	/**
	 * Cache shape.
	 *
	 * @param bool       $ok     The collector answered a state.
	 * @param array|null $state  The state.
	 * @param array      $result Wooforce_Client::post()'s result.
	 */
	private static function entry( $ok, $state, array $result ) {
		return array(
			'ok'     => $ok,
			'state'  => $ok ? $state : null,
			'error'  => $ok ? '' : ( '' !== $result['error'] ? $result['error'] : __( 'The collector gave an answer Wooforce does not understand. Ask your Wooforce operator to update the collector.', 'wooforce' ) ),
			'detail' => $ok ? '' : $result['detail'],
		);
	}

	/**
	 * Keep an answer a few seconds (filter wooforce_state_cache_s).
	 *
	 * @param string $resource order, product or customer.
	 * @param int    $id       WooCommerce id.
	 * @param array  $entry    From entry().
	 */
	private static function remember( $resource, $id, array $entry ) {
		set_transient( self::cache_key( $resource, $id ), $entry, max( 1, (int) apply_filters( 'wooforce_state_cache_s', self::CACHE_S ) ) );
		return $entry;
	}

	/**
	 * Id from a WP_Post, a WC_Order or an id.
	 *
	 * @param mixed $value What the screen passes.
	 */
	private static function id_of( $value ) {
		if ( is_object( $value ) ) {
			return (int) ( method_exists( $value, 'get_id' ) ? $value->get_id() : ( isset( $value->ID ) ? $value->ID : 0 ) );
		}
		return (int) $value;
	}

	/**
	 * The button's script, once per page: POST to admin-ajax, then the box is replaced by the answer.
	 */
	private function print_script() {
		if ( $this->script_printed ) {
			return;
		}
		$this->script_printed = true;
		$config               = array(
			'url'     => admin_url( 'admin-ajax.php' ),
			'action'  => self::AJAX_ACTION,
			'working' => __( 'Syncing…', 'wooforce' ),
			'failed'  => __( 'Sync now failed:', 'wooforce' ),
		);
		?>
		<script>
		( function ( cfg ) {
			document.addEventListener( 'click', function ( ev ) {
				var button = ev.target.closest ? ev.target.closest( '.wooforce-sync-now' ) : null;
				if ( ! button ) { return; }
				ev.preventDefault();
				var box = button.closest( '.wooforce-sync' );
				var body = new FormData();
				body.append( 'action', cfg.action );
				body.append( 'nonce', button.getAttribute( 'data-nonce' ) );
				body.append( 'resource', box.getAttribute( 'data-resource' ) );
				body.append( 'id', box.getAttribute( 'data-id' ) );
				var label = button.textContent;
				button.disabled = true;
				button.textContent = cfg.working;
				fetch( cfg.url, { method: 'POST', body: body, credentials: 'same-origin' } )
					.then( function ( r ) { return r.json(); } )
					.then( function ( out ) {
						if ( out && out.success && out.data && out.data.html ) {
							box.outerHTML = out.data.html;
							return;
						}
						throw new Error( out && out.data && out.data.message ? out.data.message : '' );
					} )
					.catch( function ( err ) {
						var p = document.createElement( 'p' );
						p.className = 'wooforce-sync-notice';
						p.style.color = '#b32d2e';
						p.textContent = cfg.failed + ' ' + ( err && err.message ? err.message : '' );
						box.insertBefore( p, box.firstChild );
						button.disabled = false;
						button.textContent = label;
					} );
			} );
		}( <?php echo wp_json_encode( $config ); ?> ) );
		</script>
		<?php
	}
}
