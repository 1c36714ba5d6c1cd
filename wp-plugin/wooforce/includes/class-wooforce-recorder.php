<?php
/**
 * Remembers changed entities during a request and spools one row per entity at shutdown: what changed
 * (entity, id, kind), not the payload. The sender builds the payload at send time from the current entity,
 * outside the shopper's request (issue 14, problem 6); a delete carries its payload, the entity being gone.
 *
 * @package Wooforce
 */

defined( 'ABSPATH' ) || exit;

/**
 * In-memory collapse of a request's hooks, then one spool write.
 */
class Wooforce_Recorder {

	/**
	 * Pending entities, "kind:id" => array(kind, id, action, at, status: an order's last status seen in the hooks or null).
	 *
	 * @var array
	 */
	private $pending = array();

	/**
	 * Orders that are not orders yet: the block checkout's checkout-draft (made when a shopper opens the checkout,
	 * deleted by WooCommerce's daily cleanup when abandoned) and the admin's auto-draft and draft. Nothing about
	 * them is sent until they get a real status (the collector drops them too).
	 */
	const DRAFT_ORDER_STATUSES = array( 'checkout-draft', 'auto-draft', 'draft' );

	/**
	 * Entities whose changes are not recorded in this request, "kind:id" => true (a draft order being deleted).
	 *
	 * @var array
	 */
	private $ignored = array();

	/**
	 * Remember a change. Cheap: no I/O.
	 *
	 * @param string $kind   order, customer or product.
	 * @param int    $id     Entity id.
	 * @param string $action created, updated, trashed, restored or deleted.
	 * @param string $status An order's status as the hook saw it (null: unknown).
	 */
	public function record( $kind, $id, $action, $status = null ) {
		$id = (int) $id;
		if ( $id <= 0 ) {
			return;
		}
		$key = $kind . ':' . $id;
		if ( isset( $this->ignored[ $key ] ) ) {
			return;
		}
		$prev = isset( $this->pending[ $key ] ) ? $this->pending[ $key ] : null;
		$this->pending[ $key ] = array(
			'kind'   => $kind,
			'id'     => $id,
			'action' => self::merge( $prev ? $prev['action'] : null, $action ),
			'at'     => $prev ? $prev['at'] : time(),
			'status' => null !== $status ? (string) $status : ( $prev ? $prev['status'] : null ),
		);
	}

	/**
	 * Collapse two actions on one entity in one request.
	 *
	 * Deleted is final; created absorbs updates; trashed and restored win over updates;
	 * otherwise the later one wins.
	 *
	 * @param string|null $prev Action so far.
	 * @param string      $next New action.
	 */
	public static function merge( $prev, $next ) {
		if ( null === $prev ) {
			return $next;
		}
		if ( 'deleted' === $prev || 'deleted' === $next ) {
			return 'deleted';
		}
		if ( 'updated' === $next ) {
			return $prev;
		}
		return $next;
	}

	/**
	 * Forget an entity and record nothing more about it in this request.
	 *
	 * @param string $kind Kind.
	 * @param int    $id   Id.
	 */
	public function ignore( $kind, $id ) {
		$key = $kind . ':' . (int) $id;
		unset( $this->pending[ $key ] );
		$this->ignored[ $key ] = true;
	}

	/**
	 * Whether an entity is pending.
	 *
	 * @param string $kind Kind.
	 * @param int    $id   Id.
	 */
	public function has( $kind, $id ) {
		return isset( $this->pending[ $kind . ':' . (int) $id ] );
	}

	/**
	 * Pending entities (tests and the admin).
	 */
	public function pending() {
		return $this->pending;
	}

	/**
	 * Write one row per entity to the spool in one statement (no payload built: see build_event()).
	 *
	 * @return int Events spooled.
	 */
	public function flush() {
		if ( ! $this->pending ) {
			return 0;
		}
		$pending       = $this->pending;
		$this->pending = array();
		$events        = array();
		foreach ( $pending as $item ) {
			$event = $this->build_event( $item );
			if ( null !== $event ) {
				$events[] = $event;
			}
		}
		if ( ! $events ) {
			return 0;
		}
		if ( ! Wooforce_Spool::insert( $events ) ) {
			Wooforce_Spool::install(); // The table may be missing after a manual database change.
			Wooforce_Spool::insert( $events );
		}
		$settings = Wooforce_Settings::get();
		Wooforce_Spool::enforce_bound( $settings['max_spool_rows'] );
		return count( $events );
	}

	/**
	 * One spool row: the event without its data (built at send time, see complete()), or with it for a delete,
	 * whose entity is gone by then. Null for an order whose hooks saw a draft (nothing to send; the sender checks
	 * again at send time for the orders whose status the hooks did not pass).
	 *
	 * @param array $item Pending entity.
	 * @return array|null
	 */
	public function build_event( array $item ) {
		if ( 'order' === $item['kind'] && isset( $item['status'] ) && in_array( $item['status'], self::DRAFT_ORDER_STATUSES, true ) ) {
			return null;
		}
		$event = array(
			'id'          => 'wp_' . wp_generate_uuid4(),
			'type'        => $item['kind'] . '.' . $item['action'],
			'occurred_at' => gmdate( 'Y-m-d\TH:i:s\Z', $item['at'] ),
			'resource_id' => $item['id'],
		);
		if ( 'deleted' === $item['action'] ) {
			$event['data'] = array( 'id' => $item['id'] );
		}
		return array(
			'event_id'    => $event['id'],
			'type'        => $event['type'],
			'resource_id' => $item['id'],
			'payload'     => wp_json_encode( $event ),
		);
	}

	/**
	 * A spooled event made whole at send time: its data is the entity as it is now (REST v3, as WooCommerce's
	 * webhooks send it). An entity gone since is sent as deleted. Null for a draft order: nothing to send.
	 * $cache keeps each entity's data for the batch ("kind:id" => data|false).
	 *
	 * @param string $payload The spool row's payload.
	 * @param array  $cache   Data built so far in this batch.
	 * @return string|null The payload to send.
	 */
	public static function complete( $payload, array &$cache ) {
		$event = json_decode( $payload, true );
		if ( ! is_array( $event ) || array_key_exists( 'data', $event ) || ! isset( $event['type'], $event['resource_id'] ) ) {
			return $payload; // Whole already (a delete, or a row spooled by an older version).
		}
		list( $kind ) = explode( '.', $event['type'] );
		$id           = (int) $event['resource_id'];
		$key          = $kind . ':' . $id;
		if ( ! array_key_exists( $key, $cache ) ) {
			$data          = self::rest_data( $kind, $id );
			$cache[ $key ] = null === $data ? false : $data;
		}
		$data = $cache[ $key ];
		if ( 'order' === $kind && isset( $data['status'] ) && in_array( $data['status'], self::DRAFT_ORDER_STATUSES, true ) ) {
			return null;
		}
		if ( false === $data ) {
			$event['type'] = $kind . '.deleted'; // Gone since the change.
			$data          = array( 'id' => $id );
		}
		$event['data'] = $data;
		return wp_json_encode( $event );
	}

	/**
	 * The entity's REST v3 representation (as WooCommerce's webhooks send it, _links included),
	 * built with WooCommerce's own controllers: no HTTP, no permission check, no REST server boot.
	 *
	 * @param string $kind Kind.
	 * @param int    $id   Id.
	 * @return array|null Null when the entity no longer exists.
	 */
	public static function rest_data( $kind, $id ) {
		if ( ! function_exists( 'wc_get_order' ) ) {
			return array( 'id' => (int) $id ); // WooCommerce inactive: nothing richer to send.
		}
		$request = new WP_REST_Request( 'GET' );
		$request->set_param( 'context', 'view' );
		$response = null;
		if ( 'order' === $kind && function_exists( 'wc_get_order' ) && class_exists( 'WC_REST_Orders_Controller' ) ) {
			$order = wc_get_order( $id );
			if ( $order && 'shop_order_refund' === $order->get_type() ) {
				$order = wc_get_order( $order->get_parent_id() );
			}
			if ( $order ) {
				$response = ( new WC_REST_Orders_Controller() )->prepare_object_for_response( $order, $request );
			}
		} elseif ( 'product' === $kind && function_exists( 'wc_get_product' ) && class_exists( 'WC_REST_Products_Controller' ) ) {
			$product = wc_get_product( $id );
			if ( $product ) {
				$response = ( new WC_REST_Products_Controller() )->prepare_object_for_response( $product, $request );
			}
		} elseif ( 'customer' === $kind && class_exists( 'WC_REST_Customers_Controller' ) ) {
			$user = get_userdata( $id );
			if ( $user ) {
				$response = ( new WC_REST_Customers_Controller() )->prepare_item_for_response( $user, $request );
			}
		}
		if ( ! $response instanceof WP_REST_Response ) {
			return null;
		}
		$data  = $response->get_data();
		$links = WP_REST_Server::get_response_links( $response );
		if ( $links ) {
			$data['_links'] = $links;
		}
		return $data;
	}
}
