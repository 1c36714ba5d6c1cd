<?php
/**
 * Router for PHP's built-in server: real files are served as they are, every other path goes to WordPress's
 * index.php (pretty permalinks, /wp-json/...).
 *
 * @package Wooforce\Tests
 */

$wooforce_path = parse_url( $_SERVER['REQUEST_URI'], PHP_URL_PATH );
$wooforce_file = $_SERVER['DOCUMENT_ROOT'] . $wooforce_path;
if ( '/' !== $wooforce_path && is_file( $wooforce_file ) ) {
	return false;
}
if ( is_dir( $wooforce_file ) && is_file( rtrim( $wooforce_file, '/' ) . '/index.php' ) ) {
	return false;
}
$_SERVER['SCRIPT_NAME']     = '/index.php';
$_SERVER['SCRIPT_FILENAME'] = $_SERVER['DOCUMENT_ROOT'] . '/index.php';
$_SERVER['PHP_SELF']        = '/index.php';
require $_SERVER['DOCUMENT_ROOT'] . '/index.php';
