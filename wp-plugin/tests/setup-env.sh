#!/usr/bin/env bash
# Prepare a real WordPress on a real MariaDB for the Wooforce plugin tests.
# Idempotent. Runs as root on Debian 12 without systemd:
#   1. apt-get installs php (with the extensions WooCommerce needs: mysql, curl, xml, mbstring, intl, gd, zip),
#      mariadb, wordpress (core in /usr/share/wordpress), phpunit when missing;
#   2. starts mariadbd in the background unless its socket answers;
#   3. creates the test database and user;
#   4. installs WordPress into that database (wp_install via tests/install-wp.php).
# Settings come from the environment (defaults in tests/wp-tests-config.php):
#   WOOFORCE_WP_DB_NAME, WOOFORCE_WP_DB_USER, WOOFORCE_WP_DB_PASSWORD, WOOFORCE_WP_CONTENT_DIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DB_NAME="${WOOFORCE_WP_DB_NAME:-wooforce_wp_test}"
DB_USER="${WOOFORCE_WP_DB_USER:-wooforce}"
DB_PASSWORD="${WOOFORCE_WP_DB_PASSWORD:-wooforce}"
SOCK=/run/mysqld/mysqld.sock

need=()
command -v php >/dev/null || need+=(php-cli)
php -m 2>/dev/null | grep -qi '^mysqli$' || need+=(php-mysql)
php -m 2>/dev/null | grep -qi '^curl$' || need+=(php-curl)
php -m 2>/dev/null | grep -qi '^xml$' || need+=(php-xml)
php -m 2>/dev/null | grep -qi '^mbstring$' || need+=(php-mbstring)
# the real store layer (tests/store: WordPress 6.8.8 + WooCommerce 10.0.2) needs these too
php -m 2>/dev/null | grep -qi '^intl$' || need+=(php-intl)
php -m 2>/dev/null | grep -qi '^gd$' || need+=(php-gd)
php -m 2>/dev/null | grep -qi '^zip$' || need+=(php-zip)
command -v mariadbd >/dev/null || need+=(mariadb-server)
[ -f /usr/share/wordpress/wp-settings.php ] || need+=(wordpress)
command -v phpunit >/dev/null || need+=(phpunit)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup-env: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" php-cli php-mysql php-curl php-xml php-mbstring >/dev/null
fi

if ! mariadb-admin --socket="$SOCK" ping >/dev/null 2>&1; then
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  if [ ! -d /var/lib/mysql/mysql ]; then
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  fi
  echo "setup-env: starting mariadbd"
  nohup mariadbd --user=mysql --datadir=/var/lib/mysql --socket="$SOCK" --skip-networking=0 \
    --bind-address=127.0.0.1 >/tmp/wooforce-mariadbd.log 2>&1 &
  for _ in $(seq 1 60); do
    mariadb-admin --socket="$SOCK" ping >/dev/null 2>&1 && break
    sleep 0.5
  done
  mariadb-admin --socket="$SOCK" ping >/dev/null || { cat /tmp/wooforce-mariadbd.log; exit 1; }
fi

mariadb --socket="$SOCK" -uroot <<SQL
CREATE DATABASE IF NOT EXISTS \`$DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL ON \`$DB_NAME\`.* TO '$DB_USER'@'localhost';
GRANT ALL ON \`$DB_NAME\`.* TO '$DB_USER'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL

php "$here/install-wp.php"
echo "setup-env: ready (WordPress $(php -r 'include "/usr/share/wordpress/wp-includes/version.php"; echo $wp_version;'), database $DB_NAME)"
