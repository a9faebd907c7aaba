#!/usr/bin/env bash
# Headless Chromium for the report's browser tests (tests/browser), idempotently: silent and
# instant when Debian's chromium and chromium-driver are there; on a root Debian machine without
# them (CI), apt-installs them. Elsewhere nothing system-wide is installed: the browser tests are
# then skipped with the reason, unless CAMP_REQUIRE_BROWSER=1 (CI) makes that an error.
set -euo pipefail

log() { echo "provision-browser: $*" >&2; }

if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then exit 0; fi
if [ "$(id -u)" != 0 ] || [ ! -f /etc/debian_version ]; then
  log "no chromium/chromedriver; install your distribution's chromium and chromium-driver to run tests/browser"
  [ "${CAMP_REQUIRE_BROWSER:-}" = 1 ] && exit 1
  exit 0
fi
log "installing Debian's chromium and chromium-driver"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
