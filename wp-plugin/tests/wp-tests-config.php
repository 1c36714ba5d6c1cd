<?php
/**
 * WordPress configuration of the test site (real WordPress core from Debian, real MariaDB).
 * Shared by install-wp.php, the PHPUnit bootstrap, the e2e helper and the bench.
 *
 * @package Wooforce\Tests
 */

define( 'DB_NAME', getenv( 'WOOFORCE_WP_DB_NAME' ) ?: 'wooforce_wp_test' );
define( 'DB_USER', getenv( 'WOOFORCE_WP_DB_USER' ) ?: 'wooforce' );
define( 'DB_PASSWORD', getenv( 'WOOFORCE_WP_DB_PASSWORD' ) ?: 'wooforce' );
define( 'DB_HOST', getenv( 'WOOFORCE_WP_DB_HOST' ) ?: 'localhost:/run/mysqld/mysqld.sock' );
define( 'DB_CHARSET', 'utf8mb4' );
define( 'DB_COLLATE', '' );
$table_prefix = getenv( 'WOOFORCE_WP_TABLE_PREFIX' ) ?: 'wptests_'; // phpcs:ignore WordPress.WP.GlobalVariablesOverride.Prohibited

define( 'ABSPATH', rtrim( getenv( 'WOOFORCE_WP_CORE_DIR' ) ?: '/usr/share/wordpress', '/' ) . '/' );
define( 'WP_PLUGIN_DIR', dirname( __DIR__ ) ); // wp-plugin/: the plugin is wp-plugin/wooforce/wooforce.php.
define( 'WPMU_PLUGIN_DIR', __DIR__ . '/mu-plugins' );
define( 'WP_HOME', 'http://localhost' );
define( 'WP_SITEURL', 'http://localhost' );
define( 'DISABLE_WP_CRON', true );
define( 'WP_DEBUG', false );
define( 'AUTH_KEY', 'wooforce-tests' );
define( 'SECURE_AUTH_KEY', 'wooforce-tests' );
define( 'LOGGED_IN_KEY', 'wooforce-tests' );
define( 'NONCE_KEY', 'wooforce-tests' );
define( 'AUTH_SALT', 'wooforce-tests' );
define( 'SECURE_AUTH_SALT', 'wooforce-tests' );
define( 'LOGGED_IN_SALT', 'wooforce-tests' );
define( 'NONCE_SALT', 'wooforce-tests' );

$_SERVER['HTTP_HOST']   = 'localhost';
$_SERVER['SERVER_NAME'] = 'localhost';
$_SERVER['REQUEST_URI'] = $_SERVER['REQUEST_URI'] ?? '/';
