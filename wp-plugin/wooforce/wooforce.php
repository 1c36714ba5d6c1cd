<?php
/**
 * Plugin Name:       Wooforce
 * Plugin URI:        https://example.com/wooforce
 * Description:       Sends signed WooCommerce order, customer and product changes to the Wooforce collector, which keeps Salesforce in step.
 * Version:           0.1.0
 * Requires at least: 6.1
 * Requires PHP:      7.4
 * Author:            Wooforce
 * License:           GPL-2.0-or-later
 * License URI:       https://www.gnu.org/licenses/gpl-2.0.html
 * Text Domain:       wooforce
 * WC requires at least: 8.0
 * WC tested up to:   10.0
 *
 * @package Wooforce
 */

defined( 'ABSPATH' ) || exit;

define( 'WOOFORCE_VERSION', '0.1.0' );
define( 'WOOFORCE_FILE', __FILE__ );

require_once __DIR__ . '/includes/class-wooforce-settings.php';
require_once __DIR__ . '/includes/class-wooforce-spool.php';
require_once __DIR__ . '/includes/class-wooforce-client.php';
require_once __DIR__ . '/includes/class-wooforce-recorder.php';
require_once __DIR__ . '/includes/class-wooforce-sender.php';
require_once __DIR__ . '/includes/class-wooforce-admin.php';
require_once __DIR__ . '/includes/class-wooforce-plugin.php';

Wooforce_Plugin::instance()->register_hooks();
