<?php
/**
 * Wiring: every hook the plugin uses is registered in register_hooks().
 *
 * @package Wooforce
 */

defined( 'ABSPATH' ) || exit;

/**
 * Maps WooCommerce and WordPress actions to recorded changes, spools them at shutdown and schedules delivery.
 */
class Wooforce_Plugin {

	const DELIVER_HOOK = 'wooforce_deliver';
	const CRON_HOOK    = 'wooforce_deliver_retry';
	const AS_GROUP     = 'wooforce';
	// When a delivery run was last scheduled (autoloaded): while one is on its way, a request schedules nothing
	// and runs no query for it. Cleared when the run starts; trusted for at most SCHEDULED_TTL_S.
	const SCHEDULED_OPTION = 'wooforce_delivery_scheduled';
	const SCHEDULED_TTL_S  = 300;
	// The minute sweep overdue by this long: WP-Cron looks stalled (the settings page says so).
	const CRON_STALLED_S = 600;

	/**
	 * Actions whose first argument is the entity id: hook => array(kind, action).
	 */
	const ENTITY_HOOKS = array(
		'woocommerce_new_order'                       => array( 'order', 'created' ),
		'woocommerce_update_order'                    => array( 'order', 'updated' ),
		'woocommerce_order_refunded'                  => array( 'order', 'updated' ),
		'woocommerce_trash_order'                     => array( 'order', 'trashed' ),
		'woocommerce_untrash_order'                   => array( 'order', 'restored' ),
		'woocommerce_before_delete_order'             => array( 'order', 'deleted' ),
		'woocommerce_delete_order'                    => array( 'order', 'deleted' ),
		'woocommerce_new_product'                     => array( 'product', 'created' ),
		'woocommerce_update_product'                  => array( 'product', 'updated' ),
		'woocommerce_new_product_variation'           => array( 'product', 'created' ),
		'woocommerce_update_product_variation'        => array( 'product', 'updated' ),
		'woocommerce_trash_product'                   => array( 'product', 'trashed' ),
		'woocommerce_trash_product_variation'         => array( 'product', 'trashed' ),
		'woocommerce_before_delete_product'           => array( 'product', 'deleted' ),
		'woocommerce_delete_product'                  => array( 'product', 'deleted' ),
		'woocommerce_before_delete_product_variation' => array( 'product', 'deleted' ),
		'woocommerce_delete_product_variation'        => array( 'product', 'deleted' ),
	);

	/**
	 * Customer actions: hook => action. Only users with a customer role count.
	 */
	const CUSTOMER_HOOKS = array(
		'user_register'                => 'created',
		'woocommerce_created_customer' => 'created',
		'woocommerce_new_customer'     => 'created',
		'profile_update'               => 'updated',
		'woocommerce_update_customer'  => 'updated',
		'delete_user'                  => 'deleted',
	);

	/**
	 * Post actions (products, variations and posts-stored orders): hook => action.
	 */
	const POST_HOOKS = array(
		'wp_trash_post'     => 'trashed',
		'untrashed_post'    => 'restored',
		'before_delete_post' => 'deleted',
	);

	const POST_TYPES = array(
		'product'           => 'product',
		'product_variation' => 'product',
		'shop_order'        => 'order',
	);

	/**
	 * Singleton.
	 *
	 * @var Wooforce_Plugin|null
	 */
	private static $instance = null;

	/**
	 * Changes of this request.
	 *
	 * @var Wooforce_Recorder
	 */
	public $recorder;

	/**
	 * Settings screen.
	 *
	 * @var Wooforce_Admin
	 */
	public $admin;

	/**
	 * Sync state and Sync now on the order, product and user edit screens.
	 *
	 * @var Wooforce_Sync_Buttons
	 */
	public $sync_buttons;

	/**
	 * The instance.
	 */
	public static function instance() {
		if ( null === self::$instance ) {
			self::$instance = new self();
		}
		return self::$instance;
	}

	/**
	 * Constructor.
	 */
	private function __construct() {
		$this->recorder = new Wooforce_Recorder();
		$this->admin    = new Wooforce_Admin();
		$this->sync_buttons = new Wooforce_Sync_Buttons();
	}

	/**
	 * The one place where hooks are registered.
	 */
	public function register_hooks() {
		register_activation_hook( WOOFORCE_FILE, array( __CLASS__, 'activate' ) );
		register_deactivation_hook( WOOFORCE_FILE, array( __CLASS__, 'deactivate' ) );
		add_action( 'before_woocommerce_init', array( __CLASS__, 'declare_hpos_compatibility' ) );

		foreach ( array_keys( self::ENTITY_HOOKS ) as $hook ) {
			add_action( $hook, array( $this, 'on_entity_hook' ), 10, 2 );
		}
		foreach ( array_keys( self::CUSTOMER_HOOKS ) as $hook ) {
			add_action( $hook, array( $this, 'on_customer_hook' ), 10, 1 );
		}
		add_action( 'deleted_user', array( $this, 'on_deleted_user' ), 10, 1 );
		add_action( 'woocommerce_delete_customer', array( $this, 'on_deleted_user' ), 10, 1 );
		foreach ( array_keys( self::POST_HOOKS ) as $hook ) {
			add_action( $hook, array( $this, 'on_post_hook' ), 10, 1 );
		}
		add_action( 'woocommerce_order_status_changed', array( $this, 'on_order_status_changed' ), 10, 3 );

		add_action( 'shutdown', array( $this, 'on_shutdown' ), 20 );
		add_action( self::DELIVER_HOOK, array( __CLASS__, 'deliver' ) );
		add_action( self::CRON_HOOK, array( __CLASS__, 'deliver' ) );
		add_filter( 'cron_schedules', array( __CLASS__, 'cron_schedules' ) );
		add_action( 'admin_init', array( __CLASS__, 'maybe_upgrade' ) );

		add_action( 'init', array( __CLASS__, 'load_textdomain' ) );
		add_action( 'admin_menu', array( $this->admin, 'add_menu' ), 60 );
		add_action( 'admin_notices', array( $this->admin, 'setup_notice' ) );
		add_action( 'admin_post_wooforce_save_settings', array( $this->admin, 'handle_save' ) );
		add_action( 'admin_post_wooforce_test_connection', array( $this->admin, 'handle_test_connection' ) );
		add_action( 'admin_post_wooforce_check', array( $this->admin, 'handle_check' ) );
		add_action( 'admin_post_wooforce_resync', array( $this->admin, 'handle_resync' ) );
		add_filter( 'plugin_action_links_' . plugin_basename( WOOFORCE_FILE ), array( $this->admin, 'action_links' ) );
		add_action( 'add_meta_boxes', array( $this->sync_buttons, 'add_meta_boxes' ) );
		add_action( 'show_user_profile', array( $this->sync_buttons, 'user_section' ) );
		add_action( 'edit_user_profile', array( $this->sync_buttons, 'user_section' ) );
		add_action( 'wp_ajax_' . Wooforce_Sync_Buttons::AJAX_ACTION, array( $this->sync_buttons, 'handle_sync' ) );
		add_action( 'wooforce_settings_after_checklist', array( $this->sync_buttons, 'store_state' ) );
	}

	/**
	 * Translations: wp-content/languages/plugins/wooforce-{locale}.mo, else the plugin's languages/ folder.
	 */
	public static function load_textdomain() {
		load_plugin_textdomain( 'wooforce', false, dirname( plugin_basename( WOOFORCE_FILE ) ) . '/languages' );
	}

	/**
	 * Orders live in HPOS tables or posts; the plugin works with both.
	 */
	public static function declare_hpos_compatibility() {
		if ( class_exists( '\Automattic\WooCommerce\Utilities\FeaturesUtil' ) ) {
			\Automattic\WooCommerce\Utilities\FeaturesUtil::declare_compatibility( 'custom_order_tables', WOOFORCE_FILE, true );
		}
	}

	/**
	 * WooCommerce order/product action. An order's hooks pass the order too: its status is kept (a draft is not spooled).
	 *
	 * @param mixed $id     Entity id.
	 * @param mixed $object The order or product, when the hook passes it.
	 */
	public function on_entity_hook( $id, $object = null ) {
		$map = self::ENTITY_HOOKS[ current_action() ];
		$id  = self::id_of( $id );
		if ( 'order' === $map[0] && 'woocommerce_before_delete_order' === current_action() && self::is_draft_order( $id ) ) {
			$this->recorder->ignore( 'order', $id ); // A draft's delete (WooCommerce's daily cleanup): nothing to send.
			return;
		}
		$status = 'order' === $map[0] && is_object( $object ) && method_exists( $object, 'get_status' ) && method_exists( $object, 'get_id' ) && (int) $object->get_id() === $id ? $object->get_status() : null;
		$this->recorder->record( $map[0], $id, $map[1], $status );
	}

	/**
	 * Whether an order is still a draft (see Wooforce_Recorder::DRAFT_ORDER_STATUSES).
	 *
	 * @param int $id Order id.
	 */
	public static function is_draft_order( $id ) {
		$order = function_exists( 'wc_get_order' ) ? wc_get_order( $id ) : false;
		return $order && in_array( $order->get_status(), Wooforce_Recorder::DRAFT_ORDER_STATUSES, true );
	}

	/**
	 * Customer or WordPress user action.
	 *
	 * @param mixed $id User id.
	 */
	public function on_customer_hook( $id ) {
		$id = self::id_of( $id );
		if ( self::is_customer( $id ) ) {
			$this->recorder->record( 'customer', $id, self::CUSTOMER_HOOKS[ current_action() ] );
		}
	}

	/**
	 * After the user row is gone the role is unknown: count it only if delete_user saw a customer.
	 *
	 * @param mixed $id User id.
	 */
	public function on_deleted_user( $id ) {
		$id = self::id_of( $id );
		if ( $this->recorder->has( 'customer', $id ) ) {
			$this->recorder->record( 'customer', $id, 'deleted' );
		}
	}

	/**
	 * Trash, untrash, delete of products, variations and posts-stored orders.
	 *
	 * @param int $post_id Post id.
	 */
	public function on_post_hook( $post_id ) {
		$type = get_post_type( $post_id );
		if ( 'shop_order' === $type && 'before_delete_post' === current_action() && self::is_draft_order( $post_id ) ) {
			$this->recorder->ignore( 'order', $post_id );
			return;
		}
		if ( isset( self::POST_TYPES[ $type ] ) ) {
			$this->recorder->record( self::POST_TYPES[ $type ], $post_id, self::POST_HOOKS[ current_action() ] );
		}
	}

	/**
	 * A status change from trash is a restore (the REST API has no untrash), to trash is a trash.
	 *
	 * @param int    $order_id Order id.
	 * @param string $from     Old status.
	 * @param string $to       New status.
	 */
	public function on_order_status_changed( $order_id, $from = '', $to = '' ) {
		$action = 'trash' === $from ? 'restored' : ( 'trash' === $to ? 'trashed' : 'updated' );
		$this->recorder->record( 'order', $order_id, $action, '' !== $to ? $to : null );
	}

	/**
	 * End of request: one spool write of what changed (no payload built), then make sure delivery happens, never
	 * in the shopper's way. A crash after the write loses nothing: the minute sweep sends what no run sent.
	 */
	public function on_shutdown() {
		if ( ! $this->recorder->pending() ) {
			return;
		}
		if ( function_exists( 'fastcgi_finish_request' ) && 'cli' !== PHP_SAPI && apply_filters( 'wooforce_finish_request_early', true ) ) {
			fastcgi_finish_request(); // PHP-FPM: the shopper has the whole response before we build and spool.
		}
		$this->recorder->flush();
		self::schedule_delivery();
	}

	/**
	 * Action Scheduler when WooCommerce has it; else after the response (PHP-FPM); else WP-Cron.
	 *
	 * @param bool $again From a run that ran out of time: schedule the next one even though this one is still on.
	 */
	public static function schedule_delivery( $again = false ) {
		$at = (int) get_option( self::SCHEDULED_OPTION, 0 );
		if ( ! $again && $at > 0 && $at <= time() && time() - $at < self::SCHEDULED_TTL_S ) {
			return; // A run is on its way and will read this request's rows.
		}
		$mode = self::delivery_mode();
		if ( 'action_scheduler' === $mode ) {
			// No as_has_scheduled_action(): the mark above keeps requests from scheduling while a run is on its way, and
			// a running action counts as scheduled there (a change spooled as the run ends would wait for the sweep).
			as_enqueue_async_action( self::DELIVER_HOOK, array(), self::AS_GROUP );
			update_option( self::SCHEDULED_OPTION, time(), true );
		} elseif ( 'after_response' === $mode ) {
			fastcgi_finish_request(); // Already sent when on_shutdown finished the request early; harmless twice.
			self::deliver();
		} elseif ( 'cron' === $mode ) {
			if ( ! wp_next_scheduled( self::DELIVER_HOOK ) ) {
				wp_schedule_single_event( time(), self::DELIVER_HOOK );
			}
			update_option( self::SCHEDULED_OPTION, time(), true );
			if ( ! ( defined( 'DISABLE_WP_CRON' ) && DISABLE_WP_CRON ) && ! wp_doing_cron() ) {
				spawn_cron(); // Non-blocking loopback.
			}
		}
	}

	/**
	 * How delivery runs: action_scheduler, after_response, cron (or what the wooforce_delivery_mode filter says).
	 */
	public static function delivery_mode() {
		$mode = 'cron';
		if ( function_exists( 'as_enqueue_async_action' ) ) {
			$mode = 'action_scheduler';
		} elseif ( function_exists( 'fastcgi_finish_request' ) ) {
			$mode = 'after_response';
		}
		return apply_filters( 'wooforce_delivery_mode', $mode );
	}

	/**
	 * Delivery job (Action Scheduler, WP-Cron, or after the response): builds the payloads and sends. A backlog
	 * that outlasts the run's time budget goes on in a new async run at once, not at the next minute.
	 */
	public static function deliver() {
		if ( false !== get_option( self::SCHEDULED_OPTION, false ) ) {
			delete_option( self::SCHEDULED_OPTION ); // Changes spooled from now on schedule their own run.
		}
		Wooforce_Sender::run( (float) apply_filters( 'wooforce_delivery_budget_s', 20.0 ) );
		if ( Wooforce_Sender::$out_of_time && in_array( self::delivery_mode(), array( 'action_scheduler', 'cron' ), true ) ) {
			self::schedule_delivery( true );
		}
	}

	/**
	 * Whether WP-Cron looks stalled: the minute sweep is overdue by CRON_STALLED_S (nothing runs due events).
	 *
	 * @return int Seconds it is overdue (0: not stalled).
	 */
	public static function cron_stalled_s() {
		$next = wp_next_scheduled( self::CRON_HOOK );
		$late = false === $next ? 0 : time() - (int) $next;
		return $late >= self::CRON_STALLED_S ? $late : 0;
	}

	/**
	 * Minute schedule for retries.
	 *
	 * @param array $schedules Schedules.
	 */
	public static function cron_schedules( $schedules ) {
		$schedules['wooforce_minute'] = array(
			'interval' => MINUTE_IN_SECONDS,
			'display'  => __( 'Every minute (Wooforce retries)', 'wooforce' ),
		);
		return $schedules;
	}

	/**
	 * Create the table and the recurring retry.
	 */
	public static function activate() {
		Wooforce_Spool::install();
		self::ensure_recurring();
	}

	/**
	 * Stop scheduling; data stays until uninstall.
	 */
	public static function deactivate() {
		wp_clear_scheduled_hook( self::CRON_HOOK );
		wp_clear_scheduled_hook( self::DELIVER_HOOK );
		delete_option( self::SCHEDULED_OPTION );
		if ( function_exists( 'as_unschedule_all_actions' ) ) {
			as_unschedule_all_actions( '', array(), self::AS_GROUP );
		}
	}

	/**
	 * Table upgrade and self-healing schedule, in wp-admin only.
	 */
	public static function maybe_upgrade() {
		if ( Wooforce_Spool::DB_VERSION !== get_option( 'wooforce_db_version' ) ) {
			Wooforce_Spool::install();
		}
		self::ensure_recurring();
	}

	/**
	 * The retry sweep runs every minute.
	 */
	public static function ensure_recurring() {
		if ( ! wp_next_scheduled( self::CRON_HOOK ) ) {
			wp_schedule_event( time() + MINUTE_IN_SECONDS, 'wooforce_minute', self::CRON_HOOK );
		}
	}

	/**
	 * Customer role check (filterable).
	 *
	 * @param int $user_id User id.
	 */
	public static function is_customer( $user_id ) {
		$user = $user_id ? get_userdata( $user_id ) : false;
		if ( ! $user ) {
			return false;
		}
		$roles = (array) apply_filters( 'wooforce_customer_roles', array( 'customer' ) );
		return (bool) array_intersect( $roles, (array) $user->roles );
	}

	/**
	 * Id from an id or an object with get_id()/ID.
	 *
	 * @param mixed $value Hook argument.
	 */
	private static function id_of( $value ) {
		if ( is_object( $value ) ) {
			return (int) ( method_exists( $value, 'get_id' ) ? $value->get_id() : ( isset( $value->ID ) ? $value->ID : 0 ) );
		}
		return (int) $value;
	}
}
