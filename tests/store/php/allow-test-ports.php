<?php
/**
 * Plugin Name: Wooforce tests: allow local test ports
 * Description: wp_safe_remote_request() only allows ports 80, 443 and 8080; the test collectors listen on
 * 127.0.0.1 on other ports.
 *
 * @package Wooforce\Tests
 */

add_filter(
	'http_allowed_safe_ports',
	static function ( $ports, $host, $url ) {
		if ( '127.0.0.1' === $host ) {
			$ports[] = (int) wp_parse_url( $url, PHP_URL_PORT );
		}
		return $ports;
	},
	10,
	3
);
