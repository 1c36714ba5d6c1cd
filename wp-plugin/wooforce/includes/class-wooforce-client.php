<?php
/**
 * Signed HTTP calls to the collector (Standard Webhooks).
 *
 * @package Wooforce
 */

defined( 'ABSPATH' ) || exit;

/**
 * Signs and posts JSON bodies to {collector_url}/v1/stores/{store_id}/{action}.
 */
class Wooforce_Client {

	const TIMEOUT_S = 3;

	/**
	 * Standard Webhooks signature: "v1," + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
	 *
	 * @param string $secret    whsec_<base64 key>.
	 * @param string $msg_id    webhook-id.
	 * @param int    $timestamp webhook-timestamp, unix seconds.
	 * @param string $body      Raw body bytes.
	 * @return string|null Null when the secret is not valid.
	 */
	public static function sign( $secret, $msg_id, $timestamp, $body ) {
		$key = Wooforce_Settings::secret_key( $secret );
		if ( null === $key ) {
			return null;
		}
		return 'v1,' . base64_encode( hash_hmac( 'sha256', $msg_id . '.' . $timestamp . '.' . $body, $key, true ) ); // phpcs:ignore WordPress.PHP.DiscouragedPHPFunctions.obfuscation_base64_encode
	}

	/**
	 * POST a signed JSON body.
	 *
	 * @param array  $settings Settings from Wooforce_Settings::get().
	 * @param string $action   events, ping or resync.
	 * @param string $body     JSON body, sent byte for byte as signed.
	 * @return array{status:int,json:mixed,retry_after:int|null,error:string}
	 */
	public static function post( array $settings, $action, $body ) {
		$msg_id    = 'msg_' . str_replace( '-', '', wp_generate_uuid4() );
		$timestamp = time();
		$signature = self::sign( $settings['secret'], $msg_id, $timestamp, $body );
		if ( null === $signature || '' === $settings['collector_url'] || '' === $settings['store_id'] ) {
			return self::result( 0, null, null, __( 'Wooforce is not configured: set the collector URL, store id and secret.', 'wooforce' ) );
		}
		$url      = $settings['collector_url'] . '/v1/stores/' . rawurlencode( $settings['store_id'] ) . '/' . $action;
		$response = wp_remote_post(
			$url,
			array(
				'body'        => $body,
				'timeout'     => (float) apply_filters( 'wooforce_http_timeout', self::TIMEOUT_S ),
				'redirection' => 0,
				'user-agent'  => 'Wooforce/' . WOOFORCE_VERSION . '; ' . home_url( '/' ),
				'headers'     => array(
					'Content-Type'      => 'application/json',
					'webhook-id'        => $msg_id,
					'webhook-timestamp' => (string) $timestamp,
					'webhook-signature' => $signature,
				),
			)
		);
		if ( is_wp_error( $response ) ) {
			/* translators: %s: transport error message */
			return self::result( 0, null, null, sprintf( __( 'Collector unreachable: %s', 'wooforce' ), $response->get_error_message() ) );
		}
		$status = (int) wp_remote_retrieve_response_code( $response );
		$json   = json_decode( wp_remote_retrieve_body( $response ), true );
		$error  = '';
		if ( $status < 200 || $status >= 300 ) {
			$code    = isset( $json['error']['code'] ) ? (string) $json['error']['code'] : 'http_error';
			$message = isset( $json['error']['message'] ) ? (string) $json['error']['message'] : '';
			$error   = trim( sprintf( 'HTTP %d %s: %s', $status, $code, $message ), ': ' );
		}
		return self::result( $status, $json, self::parse_retry_after( wp_remote_retrieve_header( $response, 'retry-after' ) ), $error );
	}

	/**
	 * Retry-After as seconds (delta-seconds or HTTP date), or null.
	 *
	 * @param string|array $value Header value.
	 */
	public static function parse_retry_after( $value ) {
		$value = is_array( $value ) ? (string) reset( $value ) : trim( (string) $value );
		if ( '' === $value ) {
			return null;
		}
		if ( ctype_digit( $value ) ) {
			return (int) $value;
		}
		$at = strtotime( $value );
		return false === $at ? null : max( 0, $at - time() );
	}

	/**
	 * Result shape.
	 *
	 * @param int         $status      HTTP status, 0 when no response.
	 * @param mixed       $json        Decoded body.
	 * @param int|null    $retry_after Seconds.
	 * @param string      $error       Message for the admin.
	 */
	private static function result( $status, $json, $retry_after, $error ) {
		return array(
			'status'      => $status,
			'json'        => $json,
			'retry_after' => $retry_after,
			'error'       => $error,
		);
	}
}
