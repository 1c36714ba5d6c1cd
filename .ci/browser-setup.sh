#!/usr/bin/env bash
# Headless Chromium for the console's end-to-end tests (tests/acceptance/test_console_browser.py).
# Debian's chromium package: Playwright (pip, test extra) drives it via executable_path; `playwright install`
# is never run (it downloads a browser build). Idempotent: does nothing when chromium is already there.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
chromium --version
