<?php
/**
 * Plugin Name:       Wooforce
 * Description:       Sends signed WooCommerce order, customer and product changes to the Wooforce collector, which keeps Salesforce in step.
 * Version:           0.1.0
 * Requires at least: 6.1
 * Requires PHP:      7.4
 * Author:            Wooforce
 * License:           GPL-2.0-or-later
 * License URI:       https://www.gnu.org/licenses/gpl-2.0.html
 * Text Domain:       wooforce
 * Domain Path:       /languages
 * WC requires at least: 8.0
 * WC tested up to:   10.0
 *
 * @package Wooforce
 */

defined( 'ABSPATH' ) || exit;

define( 'WOOFORCE_FILE', __FILE__ );
// The version has one source, the "Version:" header above (bin/build-zip stamps readme.txt's Stable tag from it).
define( 'WOOFORCE_VERSION', get_file_data( __FILE__, array( 'Version' => 'Version' ), 'plugin' )['Version'] );

require_once __DIR__ . '/includes/class-wooforce-settings.php';
require_once __DIR__ . '/includes/class-wooforce-spool.php';
require_once __DIR__ . '/includes/class-wooforce-client.php';
require_once __DIR__ . '/includes/class-wooforce-recorder.php';
require_once __DIR__ . '/includes/class-wooforce-sender.php';
require_once __DIR__ . '/includes/class-wooforce-health.php';
require_once __DIR__ . '/includes/class-wooforce-sync-buttons.php';
require_once __DIR__ . '/includes/class-wooforce-admin.php';
require_once __DIR__ . '/includes/class-wooforce-plugin.php';

Wooforce_Plugin::instance()->register_hooks();
