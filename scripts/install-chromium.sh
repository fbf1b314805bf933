#!/usr/bin/env bash
# Installs Debian's Chromium and ChromeDriver for the dashboard's browser test
# (crates/server/tests/browser.rs). Idempotent; does nothing when both are present, and
# only warns when they cannot be installed (the test then prints one line and skips).
set -uo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-chromium: cannot install ${missing[*]} (needs root and apt-get); the browser test will skip" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# Packages must not start services while they install.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
log=/tmp/install-chromium.log
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
    apt-get update -q >>"$log" 2>&1
    apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1 \
        || echo "install-chromium: apt-get failed (see $log); the browser test will skip" >&2
fi
exit 0
