<?php
/**
 * Draft orders (the block checkout's checkout-draft, the admin's auto-draft and draft) are not orders: nothing
 * about them is spooled, not even their delete, until one gets a real status (issue 14, problem 1).
 *
 * @package Wooforce\Tests
 */

/**
 * Drafts through the WooCommerce stand-in's hook sequences.
 */
class DraftOrdersTest extends Wooforce_TestCase {

	public function test_a_checkout_draft_is_spooled_only_once_placed() {
		$order = new WC_Order();
		$order->set_props( array( 'total' => '5.00' ) );
		$order->set_status( 'checkout-draft' );
		$id = $order->save();
		$this->end_request();
		$draft = wc_get_order( $id );
		$draft->set_props( array( 'total' => '10.00' ) ); // The shopper changes the cart.
		$draft->save();
		$this->end_request();
		$this->assertSame( array(), $this->spooled_events() );

		$placed = wc_get_order( $id );
		$placed->set_status( 'processing' );
		$placed->save();
		$this->end_request();
		$this->assertSame( array( "order.updated:$id" ), $this->spooled_events() );
		$data = json_decode( Wooforce_Sender::complete( $this->spool() )[0]['payload'], true )['data'];
		$this->assertSame( 'processing', $data['status'] );
	}

	/**
	 * @dataProvider draft_statuses
	 */
	public function test_a_drafts_delete_is_not_spooled( $status ) {
		$order = new WC_Order();
		$order->set_status( $status );
		$id = $order->save();
		$this->end_request();
		wc_get_order( $id )->delete( true ); // WooCommerce's cleanup of abandoned checkouts.
		$this->end_request();
		$this->assertSame( array(), $this->spooled_events() );
		$this->assertNull( get_post( $id ) );
	}

	public static function draft_statuses() {
		return array( array( 'checkout-draft' ), array( 'auto-draft' ), array( 'draft' ) );
	}

	public function test_a_real_orders_delete_is_still_spooled() {
		$order = new WC_Order();
		$order->set_status( 'processing' );
		$id = $order->save();
		$this->end_request();
		wc_get_order( $id )->delete( true );
		$this->end_request();
		$this->assertSame( array( "order.created:$id", "order.deleted:$id" ), $this->spooled_events() );
	}
}
