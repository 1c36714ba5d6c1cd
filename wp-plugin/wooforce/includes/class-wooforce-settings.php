<?php
/**
 * Settings (collector URL, store id, secret) and delivery status, each kept in one option.
 *
 * @package Wooforce
 */

defined( 'ABSPATH' ) || exit;

/**
 * Reads, validates and stores the plugin's options.
 */
class Wooforce_Settings {

	const OPTION        = 'wooforce_settings';
	const STATUS_OPTION = 'wooforce_status';
	const DEFAULT_MAX_SPOOL_ROWS = 10000;

	/**
	 * Current settings, with defaults.
	 *
	 * @return array{collector_url:string,store_id:string,secret:string,max_spool_rows:int}
	 */
	public static function get() {
		$saved = get_option( self::OPTION, array() );
		$saved = is_array( $saved ) ? $saved : array();
		return array(
			'collector_url'  => isset( $saved['collector_url'] ) ? (string) $saved['collector_url'] : '',
			'store_id'       => isset( $saved['store_id'] ) ? (string) $saved['store_id'] : '',
			'secret'         => isset( $saved['secret'] ) ? (string) $saved['secret'] : '',
			'max_spool_rows' => isset( $saved['max_spool_rows'] ) ? max( 1, (int) $saved['max_spool_rows'] ) : self::DEFAULT_MAX_SPOOL_ROWS,
		);
	}

	/**
	 * True when everything needed to send is set.
	 *
	 * @param array $settings Settings from get().
	 */
	public static function is_configured( array $settings ) {
		return '' !== $settings['collector_url'] && '' !== $settings['store_id'] && null !== self::secret_key( $settings['secret'] );
	}

	/**
	 * Validate raw form input against the current settings.
	 *
	 * An empty secret keeps the stored one. Invalid fields keep their stored value.
	 *
	 * @param array $input   Unslashed input: collector_url, store_id, secret, max_spool_rows.
	 * @param array $current Current settings.
	 * @return array{0: array, 1: string[]} New settings and error messages.
	 */
	public static function validate( array $input, array $current ) {
		$new    = $current;
		$errors = array();

		$url = isset( $input['collector_url'] ) ? trim( (string) $input['collector_url'] ) : '';
		$ok  = self::validate_url( $url );
		if ( is_wp_error( $ok ) ) {
			$errors[] = $ok->get_error_message();
		} else {
			$new['collector_url'] = $ok;
		}

		$store_id = isset( $input['store_id'] ) ? sanitize_text_field( (string) $input['store_id'] ) : '';
		if ( ! preg_match( '/^[A-Za-z0-9_-]{1,64}$/', $store_id ) ) {
			$errors[] = __( 'The store id may only hold letters, digits, "_" and "-" (as printed by "wooforce stores add").', 'wooforce' );
		} else {
			$new['store_id'] = $store_id;
		}

		$secret = isset( $input['secret'] ) ? trim( (string) $input['secret'] ) : '';
		if ( '' !== $secret ) {
			if ( null === self::secret_key( $secret ) ) {
				$errors[] = __( 'The secret must look like whsec_ followed by base64 (as printed by "wooforce stores add"). The stored secret was kept.', 'wooforce' );
			} else {
				$new['secret'] = $secret;
			}
		} elseif ( '' === $current['secret'] ) {
			$errors[] = __( 'Enter the store secret.', 'wooforce' );
		}

		if ( isset( $input['max_spool_rows'] ) && '' !== $input['max_spool_rows'] ) {
			$new['max_spool_rows'] = max( 100, absint( $input['max_spool_rows'] ) );
		}
		return array( $new, $errors );
	}

	/**
	 * HTTPS is required, plain http only for localhost, 127.0.0.1 and ::1.
	 *
	 * @param string $url Candidate collector base URL.
	 * @return string|WP_Error The URL without a trailing slash, or the reason it is refused.
	 */
	public static function validate_url( $url ) {
		$parts = wp_parse_url( $url );
		if ( '' === $url || ! is_array( $parts ) || empty( $parts['scheme'] ) || empty( $parts['host'] ) ) {
			return new WP_Error( 'wooforce_bad_url', __( 'Enter the collector URL, for example https://collector.example.com.', 'wooforce' ) );
		}
		$scheme = strtolower( $parts['scheme'] );
		$host   = strtolower( trim( $parts['host'], '[]' ) );
		if ( 'https' !== $scheme && ! ( 'http' === $scheme && in_array( $host, array( 'localhost', '127.0.0.1', '::1' ), true ) ) ) {
			return new WP_Error( 'wooforce_insecure_url', __( 'The collector URL must start with https://. Plain http:// is only allowed for localhost, 127.0.0.1 and [::1].', 'wooforce' ) );
		}
		if ( isset( $parts['user'] ) || isset( $parts['pass'] ) || isset( $parts['query'] ) || isset( $parts['fragment'] ) ) {
			return new WP_Error( 'wooforce_bad_url', __( 'The collector URL must not contain credentials, a query or a fragment.', 'wooforce' ) );
		}
		return untrailingslashit( esc_url_raw( $url, array( 'http', 'https' ) ) );
	}

	/**
	 * Key bytes of a whsec_ secret, or null when it is not valid base64.
	 *
	 * @param string $secret Secret as given by the collector.
	 */
	public static function secret_key( $secret ) {
		$raw = 0 === strpos( $secret, 'whsec_' ) ? substr( $secret, 6 ) : $secret;
		$key = base64_decode( $raw, true ); // phpcs:ignore WordPress.PHP.DiscouragedPHPFunctions.obfuscation_base64_decode
		return ( false === $key || '' === $key || '' === $raw ) ? null : $key;
	}

	/**
	 * Save settings.
	 *
	 * @param array $settings Validated settings.
	 */
	public static function save( array $settings ) {
		update_option( self::OPTION, $settings, true ); // Autoloaded: read at the end of every request that changed something.
	}

	/**
	 * Delivery status: last_success, last_error, last_error_at, dropped.
	 */
	public static function status() {
		$status = get_option( self::STATUS_OPTION, array() );
		return wp_parse_args(
			is_array( $status ) ? $status : array(),
			array(
				'last_success'  => 0,
				'last_error'    => '',
				'last_error_at' => 0,
				'dropped'       => 0,
			)
		);
	}

	/**
	 * Merge values into the status option.
	 *
	 * @param array $values Keys of status().
	 */
	public static function update_status( array $values ) {
		update_option( self::STATUS_OPTION, array_merge( self::status(), $values ), false );
	}
}
