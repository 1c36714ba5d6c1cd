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
	 * Validate raw form input against the current settings, field by field.
	 *
	 * A connection string, when given, supplies the collector URL, store id and secret (the separate fields are
	 * for experts). An empty secret keeps the stored one. The caller saves nothing while any error is returned.
	 *
	 * @param array $input   Unslashed input: connection_string, collector_url, store_id, secret, max_spool_rows.
	 * @param array $current Current settings.
	 * @return array{0: array, 1: array<string,string>} New settings, and an error message per field name.
	 */
	public static function validate( array $input, array $current ) {
		$new    = $current;
		$errors = array();

		$connection = isset( $input['connection_string'] ) ? trim( (string) $input['connection_string'] ) : '';
		if ( '' !== $connection ) {
			$parsed = self::parse_connection_string( $connection );
			if ( is_wp_error( $parsed ) ) {
				return array( $current, array( 'connection_string' => $parsed->get_error_message() ) );
			}
			$input = array_merge( $input, $parsed );
		}
		$field_of = static function ( $field ) use ( $connection ) {
			return '' !== $connection ? 'connection_string' : $field;
		};

		$url = isset( $input['collector_url'] ) ? trim( (string) $input['collector_url'] ) : '';
		$ok  = self::validate_url( $url );
		if ( is_wp_error( $ok ) ) {
			$errors[ $field_of( 'collector_url' ) ] = $ok->get_error_message();
		} else {
			$new['collector_url'] = $ok;
		}

		$store_id = isset( $input['store_id'] ) ? trim( (string) $input['store_id'] ) : '';
		if ( '' === $store_id ) {
			$errors[ $field_of( 'store_id' ) ] = __( 'Enter the store id.', 'wooforce' );
		} elseif ( ! preg_match( '/^[A-Za-z0-9_-]{1,64}$/', $store_id ) ) {
			$errors[ $field_of( 'store_id' ) ] = __( 'The store id may only hold letters, digits, "_" and "-" (as printed by "wooforce stores add").', 'wooforce' );
		} else {
			$new['store_id'] = $store_id;
		}

		$secret = isset( $input['secret'] ) ? trim( (string) $input['secret'] ) : '';
		if ( '' !== $secret ) {
			if ( null === self::secret_key( $secret ) ) {
				$errors[ $field_of( 'secret' ) ] = __( 'The secret must look like whsec_ followed by base64 (as printed by "wooforce stores add").', 'wooforce' );
			} else {
				$new['secret'] = $secret;
			}
		} elseif ( '' === $current['secret'] ) {
			$errors[ $field_of( 'secret' ) ] = __( 'Enter the secret.', 'wooforce' );
		}

		$rows = isset( $input['max_spool_rows'] ) ? trim( (string) $input['max_spool_rows'] ) : '';
		if ( '' !== $rows ) {
			if ( ! ctype_digit( $rows ) || (int) $rows < 100 ) {
				$errors['max_spool_rows'] = __( 'The spool limit must be a whole number of at least 100.', 'wooforce' );
			} else {
				$new['max_spool_rows'] = (int) $rows;
			}
		}
		return array( $new, $errors );
	}

	/**
	 * Decode the connection string the operator's "wooforce stores add" prints:
	 * wooforce:// + base64url of {"v":1,"url":...,"store_id":...,"secret":...}.
	 *
	 * @param string $text Pasted text.
	 * @return array{collector_url:string,store_id:string,secret:string}|WP_Error
	 */
	public static function parse_connection_string( $text ) {
		$text = trim( (string) $text );
		if ( 0 !== strpos( $text, 'wooforce://' ) ) {
			return new WP_Error( 'wooforce_bad_connection', __( 'This is not a Wooforce connection string: it starts with wooforce://. Copy it whole from what your Wooforce operator sent you.', 'wooforce' ) );
		}
		$raw  = strtr( substr( $text, strlen( 'wooforce://' ) ), '-_', '+/' );
		$json = base64_decode( $raw . str_repeat( '=', ( 4 - strlen( $raw ) % 4 ) % 4 ), true ); // phpcs:ignore WordPress.PHP.DiscouragedPHPFunctions.obfuscation_base64_decode
		$data = false === $json ? null : json_decode( $json, true );
		if ( ! is_array( $data ) || 1 !== ( isset( $data['v'] ) ? $data['v'] : null ) ) {
			return new WP_Error( 'wooforce_bad_connection', __( 'The connection string is damaged or incomplete. Copy it again, whole, from what your Wooforce operator sent you.', 'wooforce' ) );
		}
		foreach ( array( 'url', 'store_id', 'secret' ) as $key ) {
			if ( empty( $data[ $key ] ) || ! is_string( $data[ $key ] ) ) {
				return new WP_Error( 'wooforce_bad_connection', __( 'The connection string is damaged or incomplete. Copy it again, whole, from what your Wooforce operator sent you.', 'wooforce' ) );
			}
		}
		return array(
			'collector_url' => $data['url'],
			'store_id'      => $data['store_id'],
			'secret'        => $data['secret'],
		);
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
	 * Delivery status: last_success, last_error (plain words), last_error_detail (technical), last_error_at,
	 * last_test_at, last_test_ok, last_test_message, dropped, retry_until (the collector's Retry-After, unix time).
	 */
	public static function status() {
		$status = get_option( self::STATUS_OPTION, array() );
		return wp_parse_args(
			is_array( $status ) ? $status : array(),
			array(
				'last_success'      => 0,
				'last_error'        => '',
				'last_error_detail' => '',
				'last_error_at'     => 0,
				'last_test_at'      => 0,
				'last_test_ok'      => false,
				'last_test_message' => '',
				'dropped'           => 0,
				'retry_until'       => 0,
			)
		);
	}

	/**
	 * The collector answered: record the success and clear the last error (it no longer holds).
	 */
	public static function record_success() {
		self::update_status(
			array(
				'last_success'      => time(),
				'last_error'        => '',
				'last_error_detail' => '',
				'last_error_at'     => 0,
				'retry_until'       => 0,
			)
		);
	}

	/**
	 * Keep the last error for the status table.
	 *
	 * @param string $error  Plain words.
	 * @param string $detail Technical detail.
	 */
	public static function record_error( $error, $detail = '' ) {
		self::update_status(
			array(
				'last_error'        => $error,
				'last_error_detail' => $detail,
				'last_error_at'     => time(),
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
