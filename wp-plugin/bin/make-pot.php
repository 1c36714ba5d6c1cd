<?php
/**
 * Builds wooforce/languages/wooforce.pot from the plugin's sources, without WordPress, wp-cli or the network.
 *
 * Usage: php wp-plugin/bin/make-pot.php [--check] [--out FILE]
 *   (no option)  write wooforce/languages/wooforce.pot
 *   --check      exit 1 if that file is not what the sources give (CI: the committed .pot is current)
 *   --out FILE   write FILE instead
 *
 * Reads every .php file under wooforce/ with PHP's tokenizer; extracts __(), _e(), esc_html__(), esc_html_e(),
 * esc_attr__(), esc_attr_e(), _x(), _ex(), _n(), _nx() calls and their "translators:" comments. A call whose
 * text domain is not the literal 'wooforce', or whose text is not a literal, is an error (exit 2): it could not be
 * translated.
 *
 * @package Wooforce
 */

$wooforce_root = dirname( __DIR__ ) . '/wooforce';
$wooforce_args = array_slice( $argv, 1 );
$wooforce_out  = $wooforce_root . '/languages/wooforce.pot';
$wooforce_chk  = in_array( '--check', $wooforce_args, true );
$wooforce_i    = array_search( '--out', $wooforce_args, true );
if ( false !== $wooforce_i ) {
	$wooforce_out = $wooforce_args[ $wooforce_i + 1 ];
}

// Function => positions (0-based) of: singular, plural, context, domain.
const WOOFORCE_KEYWORDS = array(
	'__'         => array( 0, null, null, 1 ),
	'_e'         => array( 0, null, null, 1 ),
	'esc_html__' => array( 0, null, null, 1 ),
	'esc_html_e' => array( 0, null, null, 1 ),
	'esc_attr__' => array( 0, null, null, 1 ),
	'esc_attr_e' => array( 0, null, null, 1 ),
	'_x'         => array( 0, null, 1, 2 ),
	'_ex'        => array( 0, null, 1, 2 ),
	'_n'         => array( 0, 1, null, 3 ),
	'_nx'        => array( 0, 1, 3, 4 ),
);

/**
 * The calls of one file: each msgid, plural, context, line, translator comment.
 *
 * @param string $path   File.
 * @param string $rel    Path shown in references.
 * @param array  $errors Problems found (appended).
 */
function wooforce_extract( $path, $rel, array &$errors ) {
	$tokens  = token_get_all( file_get_contents( $path ) );
	$found   = array();
	$comment = '';
	$count   = count( $tokens );
	for ( $i = 0; $i < $count; $i++ ) {
		$t = $tokens[ $i ];
		if ( is_array( $t ) && T_COMMENT === $t[0] && false !== stripos( $t[1], 'translators:' ) ) {
			$comment = trim( preg_replace( '#^/\*+|\*+/$|^//#', '', trim( $t[1] ) ) );
			continue;
		}
		if ( ! is_array( $t ) || T_STRING !== $t[0] || ! isset( WOOFORCE_KEYWORDS[ $t[1] ] ) ) {
			continue;
		}
		$prev = $i - 1;
		while ( $prev >= 0 && is_array( $tokens[ $prev ] ) && T_WHITESPACE === $tokens[ $prev ][0] ) {
			$prev--;
		}
		if ( $prev >= 0 && is_array( $tokens[ $prev ] ) && in_array( $tokens[ $prev ][0], array( T_FUNCTION, T_OBJECT_OPERATOR, T_DOUBLE_COLON ), true ) ) {
			continue; // A definition or a method of the same name.
		}
		$j = $i + 1;
		while ( $j < $count && is_array( $tokens[ $j ] ) && T_WHITESPACE === $tokens[ $j ][0] ) {
			$j++;
		}
		if ( '(' !== $tokens[ $j ] ) {
			continue;
		}
		// Arguments: each a list of tokens at depth 1.
		$args  = array( array() );
		$depth = 0;
		for ( $k = $j; $k < $count; $k++ ) {
			$tk = $tokens[ $k ];
			if ( '(' === $tk || '[' === $tk ) {
				$depth++;
				if ( 1 === $depth ) {
					continue;
				}
			} elseif ( ')' === $tk || ']' === $tk ) {
				$depth--;
				if ( 0 === $depth ) {
					break;
				}
			} elseif ( ',' === $tk && 1 === $depth ) {
				$args[] = array();
				continue;
			}
			if ( ! ( is_array( $tk ) && in_array( $tk[0], array( T_WHITESPACE, T_COMMENT ), true ) ) ) {
				$args[ count( $args ) - 1 ][] = $tk;
			}
		}
		$literal = static function ( $n ) use ( $args ) {
			if ( null === $n || ! isset( $args[ $n ] ) || 1 !== count( $args[ $n ] ) || ! is_array( $args[ $n ][0] ) || T_CONSTANT_ENCAPSED_STRING !== $args[ $n ][0][0] ) {
				return null;
			}
			return eval( 'return ' . $args[ $n ][0][1] . ';' ); // phpcs:ignore Squiz.PHP.Eval.Discouraged -- a PHP string literal from our own source
		};
		list( $s, $p, $c, $d ) = WOOFORCE_KEYWORDS[ $t[1] ];
		$where                  = $rel . ':' . $t[2];
		if ( 'wooforce' !== $literal( $d ) ) {
			$errors[] = "$where: {$t[1]}() without the 'wooforce' text domain";
			continue;
		}
		$msgid = $literal( $s );
		if ( null === $msgid || ( null !== $p && null === $literal( $p ) ) || ( null !== $c && null === $literal( $c ) ) ) {
			$errors[] = "$where: {$t[1]}() with a text that is not a literal string";
			continue;
		}
		$found[] = array(
			'msgid'   => $msgid,
			'plural'  => null === $p ? null : $literal( $p ),
			'context' => null === $c ? null : $literal( $c ),
			'ref'     => $where,
			'comment' => $comment,
		);
		$comment = '';
	}
	return $found;
}

/**
 * A PO string literal.
 *
 * @param string $s Text.
 */
function wooforce_po( $s ) {
	return '"' . addcslashes( $s, "\\\"\n\t" ) . '"';
}

$wooforce_errors = array();
$wooforce_files  = array();
$wooforce_it     = new RecursiveIteratorIterator( new RecursiveDirectoryIterator( $wooforce_root, FilesystemIterator::SKIP_DOTS ) );
foreach ( $wooforce_it as $wooforce_file ) {
	if ( 'php' === $wooforce_file->getExtension() ) {
		$wooforce_files[] = $wooforce_file->getPathname();
	}
}
sort( $wooforce_files );
$wooforce_entries = array();
foreach ( $wooforce_files as $wooforce_file ) {
	$wooforce_rel = substr( $wooforce_file, strlen( $wooforce_root ) + 1 );
	foreach ( wooforce_extract( $wooforce_file, $wooforce_rel, $wooforce_errors ) as $wooforce_e ) {
		$wooforce_key = ( null === $wooforce_e['context'] ? '' : $wooforce_e['context'] . "\x04" ) . $wooforce_e['msgid'];
		if ( ! isset( $wooforce_entries[ $wooforce_key ] ) ) {
			$wooforce_entries[ $wooforce_key ] = $wooforce_e + array( 'refs' => array(), 'comments' => array() );
		}
		// References name the file only: a line number would make every edit above a string stale the template.
		$wooforce_ref = explode( ':', $wooforce_e['ref'] )[0];
		if ( ! in_array( $wooforce_ref, $wooforce_entries[ $wooforce_key ]['refs'], true ) ) {
			$wooforce_entries[ $wooforce_key ]['refs'][] = $wooforce_ref;
		}
		if ( '' !== $wooforce_e['comment'] && ! in_array( $wooforce_e['comment'], $wooforce_entries[ $wooforce_key ]['comments'], true ) ) {
			$wooforce_entries[ $wooforce_key ]['comments'][] = $wooforce_e['comment'];
		}
	}
}
if ( $wooforce_errors ) {
	fwrite( STDERR, "make-pot: untranslatable calls:\n  " . implode( "\n  ", $wooforce_errors ) . "\n" );
	exit( 2 );
}

preg_match( '/^[ \t\/*#@]*Version:\s*(\S+)/m', file_get_contents( $wooforce_root . '/wooforce.php' ), $wooforce_v );
$wooforce_pot = "# Copyright (C) Wooforce\n# This file is distributed under the GPL-2.0-or-later.\n# Built by wp-plugin/bin/make-pot.php: do not edit.\nmsgid \"\"\nmsgstr \"\"\n"
	. '"Project-Id-Version: Wooforce ' . $wooforce_v[1] . "\\n\"\n"
	. "\"MIME-Version: 1.0\\n\"\n\"Content-Type: text/plain; charset=UTF-8\\n\"\n\"Content-Transfer-Encoding: 8bit\\n\"\n"
	. "\"X-Domain: wooforce\\n\"\n";
foreach ( $wooforce_entries as $wooforce_e ) {
	$wooforce_pot .= "\n";
	foreach ( $wooforce_e['comments'] as $wooforce_c ) {
		$wooforce_pot .= '#. ' . str_replace( "\n", "\n#. ", $wooforce_c ) . "\n";
	}
	$wooforce_pot .= '#: ' . implode( ' ', $wooforce_e['refs'] ) . "\n";
	if ( null !== $wooforce_e['context'] ) {
		$wooforce_pot .= 'msgctxt ' . wooforce_po( $wooforce_e['context'] ) . "\n";
	}
	$wooforce_pot .= 'msgid ' . wooforce_po( $wooforce_e['msgid'] ) . "\n";
	if ( null !== $wooforce_e['plural'] ) {
		$wooforce_pot .= 'msgid_plural ' . wooforce_po( $wooforce_e['plural'] ) . "\nmsgstr[0] \"\"\nmsgstr[1] \"\"\n";
	} else {
		$wooforce_pot .= "msgstr \"\"\n";
	}
}

if ( $wooforce_chk ) {
	if ( ! is_file( $wooforce_out ) || file_get_contents( $wooforce_out ) !== $wooforce_pot ) {
		fwrite( STDERR, "make-pot: $wooforce_out is out of date: run php wp-plugin/bin/make-pot.php\n" );
		exit( 1 );
	}
	echo 'make-pot: ' . count( $wooforce_entries ) . " strings, up to date\n";
	exit( 0 );
}
if ( ! is_dir( dirname( $wooforce_out ) ) ) {
	mkdir( dirname( $wooforce_out ), 0777, true );
}
file_put_contents( $wooforce_out, $wooforce_pot );
echo 'make-pot: ' . count( $wooforce_entries ) . " strings written to $wooforce_out\n";
