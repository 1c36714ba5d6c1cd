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
	 * @param string $action   events, ping, resync, health or jobs/{job_id}.
	 * @param string $body     JSON body, sent byte for byte as signed.
	 * @return array{status:int,json:mixed,retry_after:int|null,error:string,detail:string}
	 *         error: what went wrong in plain words ('' on success); detail: the technical cause.
	 */
	public static function post( array $settings, $action, $body ) {
		$msg_id    = 'msg_' . str_replace( '-', '', wp_generate_uuid4() );
		$timestamp = time();
		$signature = self::sign( $settings['secret'], $msg_id, $timestamp, $body );
		if ( null === $signature || '' === $settings['collector_url'] || '' === $settings['store_id'] ) {
			return self::result( 0, null, null, __( 'Wooforce is not set up yet: paste the connection string your Wooforce operator gave you.', 'wooforce' ), '' );
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
			$detail = $response->get_error_message();
			return self::result( 0, null, null, self::explain_transport( $detail ), $detail );
		}
		$status = (int) wp_remote_retrieve_response_code( $response );
		$json   = json_decode( wp_remote_retrieve_body( $response ), true );
		$error  = '';
		$detail = '';
		if ( $status < 200 || $status >= 300 ) {
			$code    = isset( $json['error']['code'] ) ? (string) $json['error']['code'] : 'http_error';
			$message = isset( $json['error']['message'] ) ? (string) $json['error']['message'] : '';
			$detail  = trim( sprintf( 'HTTP %d %s: %s', $status, $code, $message ), ': ' ) . ' (' . $url . ')';
			$error   = self::explain_status( $status, $code );
		}
		return self::result( $status, $json, self::parse_retry_after( wp_remote_retrieve_header( $response, 'retry-after' ) ), $error, $detail );
	}

	/**
	 * A transport failure (no HTTP answer) in plain words.
	 *
	 * @param string $message WordPress's error message, e.g. "cURL error 35: ... wrong version number".
	 */
	public static function explain_transport( $message ) {
		$curl = preg_match( '/cURL error (\d+)/', $message, $m ) ? (int) $m[1] : 0;
		if ( 35 === $curl || false !== stripos( $message, 'wrong version number' ) ) {
			return __( 'The collector is unreachable over a secure connection: the address answers, but not with HTTPS. Check the collector address with your Wooforce operator (the collector needs HTTPS in front of it).', 'wooforce' );
		}
		if ( in_array( $curl, array( 51, 53, 58, 60, 77, 83 ), true ) || false !== stripos( $message, 'certificate' ) ) {
			return __( 'The collector is unreachable: its HTTPS certificate is not trusted (expired, self-signed or for another name). Ask your Wooforce operator to fix it.', 'wooforce' );
		}
		if ( 6 === $curl || false !== stripos( $message, 'resolve host' ) ) {
			return __( 'The collector is unreachable: its address could not be found. Check the collector address for typing mistakes.', 'wooforce' );
		}
		if ( 28 === $curl || false !== stripos( $message, 'timed out' ) ) {
			return __( 'The collector is unreachable: it did not answer in time. Changes wait here and are sent again automatically.', 'wooforce' );
		}
		if ( 7 === $curl || false !== stripos( $message, 'connect' ) ) {
			return __( 'The collector is unreachable: nothing answers at this address (it may be down). Changes wait here and are sent again automatically.', 'wooforce' );
		}
		return __( 'The collector is unreachable. Changes wait here and are sent again automatically.', 'wooforce' );
	}

	/**
	 * An HTTP error answer in plain words.
	 *
	 * @param int    $status HTTP status.
	 * @param string $code   The collector's error code.
	 */
	public static function explain_status( $status, $code ) {
		if ( 401 === $status ) {
			return __( 'The collector refused the secret: it does not match this store. Paste the connection string again, or ask your Wooforce operator for a new one.', 'wooforce' );
		}
		if ( 403 === $status && 'store_disabled' === $code ) {
			return __( 'This store is switched off in Wooforce. Ask your Wooforce operator to enable it.', 'wooforce' );
		}
		if ( 404 === $status && 'unknown_store' === $code ) {
			return __( 'The collector does not know this store id. Paste the connection string again, or ask your Wooforce operator.', 'wooforce' );
		}
		if ( 404 === $status || 405 === $status ) {
			return __( 'No Wooforce collector answers at this address. Check the collector address: it is the one your Wooforce operator gave you, without /v1/... after it.', 'wooforce' );
		}
		if ( in_array( $status, array( 400, 413, 415, 422 ), true ) ) {
			return __( 'The collector refused this data as invalid. It is set aside; ask your Wooforce operator if this repeats.', 'wooforce' );
		}
		if ( 429 === $status || $status >= 500 ) {
			return __( 'The collector is busy or having trouble right now. Changes wait here and are sent again automatically.', 'wooforce' );
		}
		/* translators: %d: HTTP status code */
		return sprintf( __( 'The collector answered with an unexpected error (HTTP %d).', 'wooforce' ), $status );
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
	 * @param string      $error       Message for the admin, in plain words.
	 * @param string      $detail      The technical cause.
	 */
	private static function result( $status, $json, $retry_after, $error, $detail ) {
		return array(
			'status'      => $status,
			'json'        => $json,
			'retry_after' => $retry_after,
			'error'       => $error,
			'detail'      => $detail,
		);
	}
}
