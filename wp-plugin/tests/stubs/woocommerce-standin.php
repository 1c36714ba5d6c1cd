<?php
/**
 * WooCommerce stand-in for the tests and the bench (WooCommerce is not packaged in Debian).
 *
 * It is NOT WooCommerce. It defines only what Wooforce touches: wc_get_order(), wc_get_product(),
 * the REST v3 controllers' prepare methods, FeaturesUtil::declare_compatibility(), the customer role,
 * and objects whose save()/trash()/delete() fire the same action names, in the same order and with the
 * same arguments, as the hook traces of a real WooCommerce 10.0.2 (shared/fixtures/woocommerce/hooks).
 * Orders behave as with HPOS: their trash/untrash/delete fire only woocommerce_* order actions.
 * Products and variations are real posts, so WordPress fires wp_trash_post, untrashed_post, before_delete_post.
 * Customers are real WordPress users, so user_register, profile_update, delete_user, deleted_user are real.
 *
 * @package Wooforce\Tests
 */

namespace Automattic\WooCommerce\Utilities {
	/**
	 * Records feature declarations.
	 */
	class FeaturesUtil {
		/**
		 * Declarations: array of [feature, plugin_file, positive].
		 *
		 * @var array
		 */
		public static $declared = array();

		public static function declare_compatibility( $feature_id, $plugin_file, $positive_compatibility = true ) {
			self::$declared[] = array( $feature_id, $plugin_file, $positive_compatibility );
			return true;
		}
	}
}

namespace {

	defined( 'ABSPATH' ) || exit;

	define( 'WOOFORCE_WC_STANDIN', true );

	/**
	 * Shared storage: a post whose post_content holds the REST fields as JSON.
	 */
	abstract class WC_Standin_Object {
		protected $id = 0;
		protected $data = array();
		protected $status = '';
		protected $parent_id = 0;
		const POST_TYPE = '';

		public function __construct( $id = 0 ) {
			if ( $id ) {
				$post = get_post( $id );
				if ( $post ) {
					$this->id        = (int) $post->ID;
					$this->status    = $post->post_status;
					$this->parent_id = (int) $post->post_parent;
					$this->data      = (array) json_decode( $post->post_content, true );
				}
			}
		}
		public function get_id() { return $this->id; }
		public function get_type() { return static::POST_TYPE; }
		public function get_parent_id() { return $this->parent_id; }
		public function get_status() { return $this->status; }
		public function get_data() { return $this->data; }
		public function set_props( array $props ) { $this->data = array_merge( $this->data, $props ); }
		public function set_parent_id( $id ) { $this->parent_id = (int) $id; }

		/**
		 * Write the row without WordPress post hooks (WooCommerce's data stores use $wpdb too).
		 *
		 * @param int $wanted_id Exact id for fixtures (0 = next).
		 */
		protected function write( $wanted_id = 0 ) {
			global $wpdb;
			$now  = current_time( 'mysql', true );
			$row  = array(
				'post_type'         => static::POST_TYPE,
				'post_status'       => $this->status,
				'post_parent'       => $this->parent_id,
				'post_content'      => wp_json_encode( $this->data ),
				'post_title'        => isset( $this->data['name'] ) ? (string) $this->data['name'] : '',
				'post_modified_gmt' => $now,
				'post_modified'     => $now,
			);
			if ( $this->id ) {
				$wpdb->update( $wpdb->posts, $row, array( 'ID' => $this->id ) );
			} else {
				$row += array( 'post_date' => $now, 'post_date_gmt' => $now, 'post_author' => 1, 'post_excerpt' => '', 'to_ping' => '', 'pinged' => '', 'post_content_filtered' => '' );
				if ( $wanted_id ) {
					$row['ID'] = (int) $wanted_id;
				}
				$wpdb->insert( $wpdb->posts, $row );
				$this->id = (int) $wpdb->insert_id;
			}
			clean_post_cache( $this->id );
		}
	}

	/**
	 * Order. Hook sequences follow hooks/order-*.json.
	 */
	class WC_Order extends WC_Standin_Object {
		const POST_TYPE = 'shop_order';

		public function __construct( $id = 0 ) {
			parent::__construct( $id );
			if ( ! $this->id ) {
				$this->status = 'wc-pending';
			}
		}
		public function get_status() { return 0 === strpos( $this->status, 'wc-' ) ? substr( $this->status, 3 ) : $this->status; }
		public function set_status( $status ) { $this->pending_status = $status; }
		public function get_customer_id() { return isset( $this->data['customer_id'] ) ? (int) $this->data['customer_id'] : 0; }

		private $pending_status = null;

		/**
		 * Create: woocommerce_new_order then woocommerce_update_order 3 times (totals, addresses, items)
		 * as in order-create-pending; update: one woocommerce_update_order, then status change.
		 *
		 * @param int $wanted_id Exact id (fixtures).
		 */
		public function save( $wanted_id = 0 ) {
			$is_new = ! $this->id;
			$from   = $this->get_status();
			$to     = null !== $this->pending_status ? $this->pending_status : $from;
			$this->status         = 'trash' === $to ? 'trash' : 'wc-' . $to;
			$this->pending_status = null;
			$this->write( $wanted_id );
			if ( $is_new ) {
				do_action( 'woocommerce_new_order', $this->id, $this );
				for ( $i = 0; $i < 3; $i++ ) {
					$this->write();
					do_action( 'woocommerce_update_order', $this->id, $this );
				}
			} else {
				do_action( 'woocommerce_update_order', $this->id, $this );
			}
			if ( $from !== $to && ! ( $is_new && 'pending' === $to ) ) {
				do_action( 'woocommerce_order_status_changed', $this->id, $is_new ? 'pending' : $from, $to, $this );
			}
			return $this->id;
		}

		public function trash() {
			do_action( 'woocommerce_before_trash_order', $this->id, $this );
			$previous     = $this->status;
			$this->data['_previous_status'] = $previous;
			$this->status = 'trash';
			$this->write();
			do_action( 'woocommerce_trash_order', $this->id );
		}

		public function untrash() {
			$previous     = isset( $this->data['_previous_status'] ) ? $this->data['_previous_status'] : 'wc-pending';
			$this->status = $previous;
			$this->write();
			do_action( 'woocommerce_untrash_order', $this->id, $previous );
			do_action( 'woocommerce_order_status_changed', $this->id, 'trash', $this->get_status(), $this );
		}

		public function delete( $force_delete = false ) {
			if ( ! $force_delete ) {
				$this->trash();
				return true;
			}
			global $wpdb;
			do_action( 'woocommerce_before_delete_order', $this->id, $this );
			$wpdb->delete( $wpdb->posts, array( 'ID' => $this->id ) );
			clean_post_cache( $this->id );
			do_action( 'woocommerce_delete_order', $this->id );
			return true;
		}
	}

	/**
	 * Refund: shares the order id sequence, parent is the order.
	 */
	class WC_Order_Refund extends WC_Order {
		const POST_TYPE = 'shop_order_refund';
	}

	/**
	 * Product; real posts, so WordPress's own trash/untrash/delete hooks fire.
	 */
	class WC_Product extends WC_Standin_Object {
		const POST_TYPE = 'product';

		public function __construct( $id = 0 ) {
			parent::__construct( $id );
			if ( ! $this->id ) {
				$this->status = 'publish';
			}
		}

		public function save( $wanted_id = 0 ) {
			$is_new = ! $this->id;
			$this->write( $wanted_id );
			$prefix = 'product_variation' === static::POST_TYPE ? 'woocommerce_%s_product_variation' : 'woocommerce_%s_product';
			do_action( sprintf( $prefix, $is_new ? 'new' : 'update' ), $this->id, $this );
			if ( $this->parent_id ) {
				do_action( 'woocommerce_update_product', $this->parent_id, wc_get_product( $this->parent_id ) );
			}
			return $this->id;
		}

		public function delete( $force_delete = false ) {
			if ( ! $force_delete ) {
				return (bool) wp_trash_post( $this->id );
			}
			$hook = 'product_variation' === static::POST_TYPE ? 'product_variation' : 'product';
			do_action( 'woocommerce_before_delete_' . $hook, $this->id, $this );
			wp_delete_post( $this->id, true );
			do_action( 'woocommerce_delete_' . $hook, $this->id );
			return true;
		}
	}

	/**
	 * Variation.
	 */
	class WC_Product_Variation extends WC_Product {
		const POST_TYPE = 'product_variation';
	}

	/**
	 * Customer: a WordPress user with the customer role.
	 */
	class WC_Customer {
		/**
		 * Create as WC_REST_Customers_Controller does: user_register, woocommerce_created_customer,
		 * profile_update x2, woocommerce_new_customer.
		 *
		 * @param array $args email, first_name, last_name.
		 * @return int User id.
		 */
		public static function create( array $args ) {
			$id = wp_insert_user(
				array(
					'user_login' => $args['email'],
					'user_email' => $args['email'],
					'user_pass'  => wp_generate_password(),
					'role'       => 'customer',
				)
			);
			do_action( 'woocommerce_created_customer', $id, array(), false );
			wp_update_user( array( 'ID' => $id, 'first_name' => isset( $args['first_name'] ) ? $args['first_name'] : '' ) );
			wp_update_user( array( 'ID' => $id, 'last_name' => isset( $args['last_name'] ) ? $args['last_name'] : '' ) );
			do_action( 'woocommerce_new_customer', $id, new WC_Customer() );
			return $id;
		}

		public static function update( $id, array $fields ) {
			wp_update_user( array_merge( array( 'ID' => $id ), $fields ) );
			do_action( 'woocommerce_update_customer', $id, new WC_Customer() );
		}

		public static function delete( $id ) {
			require_once ABSPATH . 'wp-admin/includes/user.php';
			wp_delete_user( $id );
			do_action( 'woocommerce_delete_customer', $id );
		}
	}

	/**
	 * Order by id (orders and refunds), or false.
	 *
	 * @param mixed $id Id or object.
	 */
	function wc_get_order( $id = false ) {
		$id   = is_object( $id ) ? $id->get_id() : (int) $id;
		$type = $id ? get_post_type( $id ) : false;
		if ( 'shop_order' === $type ) {
			return new WC_Order( $id );
		}
		return 'shop_order_refund' === $type ? new WC_Order_Refund( $id ) : false;
	}

	/**
	 * Product or variation by id, or false (also false once trashed? no: trashed products stay readable).
	 *
	 * @param mixed $id Id.
	 */
	function wc_get_product( $id = false ) {
		$id   = (int) $id;
		$type = $id ? get_post_type( $id ) : false;
		if ( 'product' === $type ) {
			return new WC_Product( $id );
		}
		return 'product_variation' === $type ? new WC_Product_Variation( $id ) : false;
	}

	if ( ! class_exists( 'WC_REST_Orders_Controller' ) ) {
		/**
		 * Minimal controllers: the REST v3 shape keys Wooforce and the collector rely on, and _links.
		 */
		abstract class WC_Standin_REST_Controller extends WP_REST_Controller {
			protected $namespace = 'wc/v3';

			protected function respond( array $data, $route, array $extra_links = array() ) {
				$response = new WP_REST_Response( $data );
				$response->add_links(
					array_merge(
						array(
							'self'       => array( 'href' => rest_url( sprintf( '/%s/%s/%d', $this->namespace, $route, $data['id'] ) ) ),
							'collection' => array( 'href' => rest_url( sprintf( '/%s/%s', $this->namespace, $route ) ) ),
						),
						$extra_links
					)
				);
				return $response;
			}

			protected static function dates( WP_Post $post ) {
				return array(
					'date_created'      => get_date_from_gmt( $post->post_date_gmt, 'Y-m-d\TH:i:s' ),
					'date_created_gmt'  => mysql_to_rfc3339( $post->post_date_gmt ),
					'date_modified'     => get_date_from_gmt( $post->post_modified_gmt, 'Y-m-d\TH:i:s' ),
					'date_modified_gmt' => mysql_to_rfc3339( $post->post_modified_gmt ),
				);
			}
		}

		class WC_REST_Orders_Controller extends WC_Standin_REST_Controller {
			public function prepare_object_for_response( $order, $request ) {
				$data = array_merge(
					array( 'id' => $order->get_id(), 'parent_id' => $order->get_parent_id(), 'status' => $order->get_status() ),
					self::dates( get_post( $order->get_id() ) ),
					array_diff_key( $order->get_data(), array( '_previous_status' => 1 ) )
				);
				$links = $order->get_customer_id() ? array( 'customer' => array( 'href' => rest_url( 'wc/v3/customers/' . $order->get_customer_id() ) ) ) : array();
				return $this->respond( $data, 'orders', $links );
			}
		}

		class WC_REST_Products_Controller extends WC_Standin_REST_Controller {
			public function prepare_object_for_response( $product, $request ) {
				$data = array_merge(
					array( 'id' => $product->get_id(), 'type' => 'product_variation' === $product->get_type() ? 'variation' : 'simple', 'parent_id' => $product->get_parent_id(), 'status' => $product->get_status() ),
					self::dates( get_post( $product->get_id() ) ),
					$product->get_data()
				);
				$links = $product->get_parent_id() ? array( 'up' => array( 'href' => rest_url( 'wc/v3/products/' . $product->get_parent_id() ) ) ) : array();
				return $this->respond( $data, 'products', $links );
			}
		}

		class WC_REST_Customers_Controller extends WC_Standin_REST_Controller {
			public function prepare_item_for_response( $user, $request ) {
				return $this->respond(
					array(
						'id'         => (int) $user->ID,
						'email'      => $user->user_email,
						'first_name' => $user->first_name,
						'last_name'  => $user->last_name,
						'role'       => implode( ',', $user->roles ),
						'username'   => $user->user_login,
					),
					'customers'
				);
			}
		}
	}

	// WooCommerce creates the customer role and gives administrators manage_woocommerce; so does the stand-in.
	add_action(
		'init',
		static function () {
			if ( ! get_role( 'customer' ) ) {
				add_role( 'customer', 'Customer', array( 'read' => true ) );
			}
			$admin = get_role( 'administrator' );
			if ( $admin && ! $admin->has_cap( 'manage_woocommerce' ) ) {
				$admin->add_cap( 'manage_woocommerce' );
			}
			do_action( 'before_woocommerce_init' );
		},
		0
	);
}
