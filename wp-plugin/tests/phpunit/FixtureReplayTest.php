<?php
/**
 * Replays every hook trace captured from a real WooCommerce 10.0.2 (shared/fixtures/woocommerce/hooks)
 * through the WooCommerce stand-in (tests/stubs/woocommerce-standin.php) and checks which events
 * Wooforce spools at the end of the request: one per entity, the repeated hooks collapsed.
 *
 * @package Wooforce\Tests
 */

/**
 * Fixture replay.
 */
class FixtureReplayTest extends Wooforce_TestCase {

	/**
	 * Expected spool after each operation ("type:id", spool order = first hook order).
	 * Differences from the WooCommerce webhooks that the same operation sent are deliberate:
	 * created+updated collapse to created; a trash is order/product.trashed (WooCommerce: *.deleted);
	 * the parent of a changed variation is re-sent; a REST "restore" (status change from trash) and a
	 * force delete, which WooCommerce does not report, are reported.
	 */
	const EXPECTED = array(
		'coupon-create'                   => '',
		'customer-create-1'               => 'customer.created:6',
		'customer-create-2'               => 'customer.created:7',
		'customer-create-3'               => 'customer.created:8',
		'customer-delete-without-force'   => '',
		'customer-delete'                 => 'customer.deleted:8',
		'customer-update'                 => 'customer.updated:6',
		'error-customer-duplicate-email'  => '',
		'order-create-for-force-delete'   => 'order.created:40',
		'order-create-for-refund'         => 'order.created:37 product.updated:25 product.updated:26',
		'order-create-for-trash'          => 'order.created:39 product.updated:26',
		'order-create-full'               => 'order.created:34 product.updated:25 product.updated:26 product.updated:29 customer.updated:6 product.updated:28',
		'order-create-guest'              => 'order.created:35 product.updated:26',
		'order-create-pending'            => 'order.created:36',
		'order-create-unknown-product'    => 'order.created:41',
		'order-force-delete'              => 'order.deleted:40',
		'order-refund-partial'            => 'product.updated:26 order.updated:37',
		'order-restore-via-admin'         => 'order.restored:39',
		'order-restore-via-rest-status'   => 'order.restored:39',
		'order-status-completed'          => 'order.updated:36 customer.updated:7',
		'order-status-processing'         => 'order.updated:36 product.updated:25',
		'order-trash-2'                   => 'order.trashed:39',
		'order-trash-again'               => '',
		'order-trash'                     => 'order.trashed:39',
		'order-update-note-field'         => 'order.updated:36',
		'product-create-simple-1'         => 'product.created:25',
		'product-create-simple-2'         => 'product.created:26',
		'product-create-simple-3'         => 'product.created:27',
		'product-create-variable'         => 'product.created:28',
		'product-force-delete'            => 'product.deleted:27',
		'product-restore-via-admin'       => 'product.restored:27',
		'product-restore-via-rest-status' => 'product.updated:27',
		'product-trash-2'                 => 'product.trashed:27',
		'product-trash-again'             => '',
		'product-trash'                   => 'product.trashed:27',
		'product-update-price'            => 'product.updated:25',
		'variation-create-1'              => 'product.created:29 product.updated:28',
		'variation-create-2'              => 'product.created:30 product.updated:28',
		'variation-create-3'              => 'product.created:31 product.updated:28',
		'variation-create-4'              => 'product.created:32 product.updated:28',
		'variation-update-stock'          => 'product.updated:30 product.updated:28',
	);

	/**
	 * Which of our event actions stand for a WooCommerce webhook action of the same request.
	 */
	const COVERS = array(
		'created'  => array( 'created' ),
		'updated'  => array( 'updated', 'created', 'restored' ),
		'deleted'  => array( 'trashed', 'deleted' ),
		'restored' => array( 'restored' ),
	);

	public static function fixtures_dir() {
		$dir = getenv( 'WOOFORCE_FIXTURES_DIR' ) ?: dirname( __DIR__, 4 ) . '/shared/fixtures';
		return $dir . '/woocommerce';
	}

	public function fixture_files() {
		$files = glob( self::fixtures_dir() . '/hooks/*.json' );
		$cases = array();
		foreach ( $files as $file ) {
			if ( 'index.json' !== basename( $file ) ) {
				$cases[ basename( $file, '.json' ) ] = array( $file );
			}
		}
		return $cases;
	}

	public function test_every_fixture_operation_has_an_expectation() {
		$names = array_keys( $this->fixture_files() );
		$this->assertGreaterThan( 30, count( $names ), 'fixtures not found in ' . self::fixtures_dir() );
		sort( $names );
		$expected = array_keys( self::EXPECTED );
		sort( $expected );
		$this->assertSame( $expected, $names );
	}

	/**
	 * @dataProvider fixture_files
	 */
	public function test_replayed_trace_spools_one_event_per_entity( $file ) {
		$trace = json_decode( file_get_contents( $file ), true );
		$this->seed_fixture_entities();

		foreach ( $trace['hooks'] as $hook ) {
			$args  = array( $hook['arg'] );
			$extra = isset( $hook['extra'] ) ? $hook['extra'] : array();
			unset( $extra['post_type'] );
			$args = array_merge( $args, array_values( $extra ) );
			if ( 1 === count( $args ) && in_array( $hook['hook'], array( 'before_delete_post', 'delete_post', 'deleted_post', 'after_delete_post' ), true ) ) {
				// WordPress passes the post too, and its own callbacks need it (6.8: _wp_before_delete_font_face).
				$args[] = get_post( $hook['arg'] ) ?: new WP_Post( (object) array( 'ID' => (int) $hook['arg'], 'post_type' => 'product' ) );
			}
			do_action_ref_array( $hook['hook'], $args );
		}
		$this->assertSame( array(), $this->spool(), 'nothing is written before the end of the request' );
		$this->end_request();

		$got = implode( ' ', $this->spooled_events() );
		$this->assertSame( self::EXPECTED[ $trace['operation'] ], $got, $trace['operation'] );

		// Every WooCommerce webhook of this request is covered by one of our events.
		$ours = array();
		foreach ( $this->spool() as $row ) {
			list( $kind, $action )                       = explode( '.', $row['type'] );
			$ours[ $kind . ':' . $row['resource_id'] ] = $action;
		}
		foreach ( $trace['webhook_deliveries'] as $delivery ) {
			$webhook = json_decode( file_get_contents( self::fixtures_dir() . '/webhooks/' . $delivery ), true );
			list( $kind, $action ) = explode( '.', $webhook['topic'] );
			if ( 'coupon' === $kind ) {
				continue;
			}
			$id  = json_decode( $webhook['raw_body'], true )['id'];
			$key = $kind . ':' . $id;
			$this->assertArrayHasKey( $key, $ours, "$delivery has no counterpart" );
			$this->assertContains( $ours[ $key ], self::COVERS[ $action ], "$delivery vs {$ours[$key]}" );
		}

		// Each row records what changed; only a delete carries its data (the entity is gone at send time).
		$rows = $this->spool();
		foreach ( $rows as $row ) {
			$event = json_decode( $row['payload'], true );
			$this->assertSame( $row['event_id'], $event['id'] );
			$this->assertMatchesRegularExpression( '/^wp_[0-9a-f-]{36}$/', $event['id'] );
			$this->assertSame( $row['type'], $event['type'] );
			$this->assertSame( (int) $row['resource_id'], $event['resource_id'] );
			$this->assertMatchesRegularExpression( '/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/', $event['occurred_at'] );
			if ( '.deleted' === substr( $event['type'], -8 ) ) {
				$this->assertSame( array( 'id' => $event['resource_id'] ), $event['data'] );
			} else {
				$this->assertArrayNotHasKey( 'data', $event, 'no payload is built in the request' );
			}
		}
		// At send time each one is a complete ingest event.
		$sent = Wooforce_Sender::complete( $rows );
		$this->assertSame( wp_list_pluck( $rows, 'event_id' ), wp_list_pluck( $sent, 'event_id' ) );
		foreach ( $sent as $row ) {
			$event = json_decode( $row['payload'], true );
			$this->assertSame( $row['event_id'], $event['id'] );
			$this->assertSame( (int) $row['resource_id'], $event['resource_id'] );
			if ( '.deleted' === substr( $event['type'], -8 ) ) {
				$this->assertSame( array( 'id' => $event['resource_id'] ), $event['data'] );
			} else {
				$this->assertSame( $row['type'], $event['type'] );
				$this->assertSame( $event['resource_id'], $event['data']['id'] );
				$this->assertArrayHasKey( 'self', $event['data']['_links'] );
			}
		}
	}

	public function test_natural_order_lifecycle_through_the_stand_in() {
		$order = new WC_Order();
		$order->set_props( array( 'total' => '12.00' ) );
		$order->set_status( 'processing' );
		$id = $order->save();
		$order = wc_get_order( $id );
		$order->set_status( 'completed' );
		$order->save();
		$this->end_request();
		$rows = $this->spool();
		$this->assertSame( array( "order.created:$id" ), $this->spooled_events() );
		$data = json_decode( Wooforce_Sender::complete( $rows )[0]['payload'], true )['data'];
		$this->assertSame( 'completed', $data['status'], 'payload is built at send time' );
		$this->assertSame( '12.00', $data['total'] );

		wc_get_order( $id )->delete();
		$this->end_request();
		wc_get_order( $id )->untrash();
		$this->end_request();
		wc_get_order( $id )->delete( true );
		$this->end_request();
		$this->assertSame( array( "order.created:$id", "order.trashed:$id", "order.restored:$id", "order.deleted:$id" ), $this->spooled_events() );
	}

	public function test_real_wordpress_user_and_post_hooks() {
		$customer = WC_Customer::create( array( 'email' => 'jane@example.com', 'first_name' => 'Jane' ) );
		$admin    = wp_insert_user( array( 'user_login' => 'boss', 'user_email' => 'boss@example.com', 'user_pass' => 'x', 'role' => 'administrator' ) );
		$product  = new WC_Product();
		$product->set_props( array( 'name' => 'Lamp' ) );
		$pid = $product->save();
		$this->end_request();
		$this->assertSame( array( "customer.created:$customer", "product.created:$pid" ), $this->spooled_events(), 'administrators are not customers' );

		wp_trash_post( $pid );
		$this->end_request();
		wp_untrash_post( $pid );
		$this->end_request();
		WC_Customer::delete( $customer );
		require_once ABSPATH . 'wp-admin/includes/user.php';
		wp_delete_user( $admin );
		wc_get_product( $pid )->delete( true );
		$this->end_request();
		$this->assertSame(
			array( "customer.created:$customer", "product.created:$pid", "product.trashed:$pid", "product.restored:$pid", "customer.deleted:$customer", "product.deleted:$pid" ),
			$this->spooled_events()
		);
	}

	public function test_merge_rules() {
		$this->assertSame( 'created', Wooforce_Recorder::merge( 'created', 'updated' ) );
		$this->assertSame( 'deleted', Wooforce_Recorder::merge( 'created', 'deleted' ) );
		$this->assertSame( 'deleted', Wooforce_Recorder::merge( 'deleted', 'updated' ) );
		$this->assertSame( 'trashed', Wooforce_Recorder::merge( 'updated', 'trashed' ) );
		$this->assertSame( 'restored', Wooforce_Recorder::merge( 'restored', 'updated' ) );
		$this->assertSame( 'restored', Wooforce_Recorder::merge( 'trashed', 'restored' ) );
	}

	public function test_declares_hpos_compatibility() {
		$this->assertContains( array( 'custom_order_tables', WOOFORCE_FILE, true ), \Automattic\WooCommerce\Utilities\FeaturesUtil::$declared );
	}

	/**
	 * The entities the traces refer to, with their fixture ids: products 11, 25-28, variations 29-32
	 * (parent 28), orders 12-15, 34-37, 39-41, refund 38 (parent 37), customers 2, 6-8.
	 */
	private function seed_fixture_entities() {
		global $wpdb;
		foreach ( array( 11, 25, 26, 27, 28 ) as $id ) {
			$this->seed( new WC_Product(), $id, array( 'name' => "Product $id" ) );
		}
		foreach ( array( 29, 30, 31, 32 ) as $id ) {
			$variation = new WC_Product_Variation();
			$variation->set_parent_id( 28 );
			$this->seed( $variation, $id, array( 'name' => "Variation $id" ) );
		}
		foreach ( array( 12, 13, 14, 15, 34, 35, 36, 37, 39, 40, 41 ) as $id ) {
			$this->seed( new WC_Order(), $id, array( 'total' => '1.00' ) );
		}
		$refund = new WC_Order_Refund();
		$refund->set_parent_id( 37 );
		$this->seed( $refund, 38, array() );
		foreach ( array( 2, 6, 7, 8 ) as $id ) {
			$wpdb->insert( $wpdb->users, array( 'ID' => $id, 'user_login' => "customer$id", 'user_email' => "c$id@example.com", 'user_registered' => '2026-11-22 00:00:00' ) );
			( new WP_User( $id ) )->set_role( 'customer' );
		}
		wp_cache_flush();
	}

	private function seed( $object, $id, array $props ) {
		global $wpdb;
		$wpdb->delete( $wpdb->posts, array( 'ID' => $id ) );
		$object->set_props( $props );
		$write = new ReflectionMethod( $object, 'write' );
		$write->setAccessible( true );
		$write->invoke( $object, $id ); // Insert with the fixture id, without firing hooks.
	}
}
