#!/usr/bin/env bash
# Installs the real consumers the export tests validate against: nginx (nginx -t),
# HAProxy (haproxy -c), ipset (ipset restore) and CrowdSec's custom bouncer (reading
# shrike's bouncer API). Idempotent; does nothing when they are
# present, and only warns when they cannot be installed (the tests then fall back to
# their format checks and say so).
set -uo pipefail
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v ipset >/dev/null 2>&1 || [ -x /usr/sbin/ipset ] || missing+=(ipset)
# CrowdSec's custom bouncer (without the CrowdSec agent it recommends: shrike is its API).
[ -x /usr/bin/crowdsec-custom-bouncer ] || missing+=(crowdsec-custom-bouncer)
# And its firewall bouncer, which the test runs in nftables set-only mode in a private
# network namespace (its package enables a systemd unit it does not start here).
[ -x /usr/bin/crowdsec-firewall-bouncer ] || missing+=(crowdsec-firewall-bouncer)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-validators: cannot install ${missing[*]} (needs root and apt-get); export tests will use format checks only" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# Packages must not start services while they install.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/install-validators.log 2>&1; then
    apt-get update -q >>/tmp/install-validators.log 2>&1
    apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/install-validators.log 2>&1 \
        || echo "install-validators: apt-get failed (see /tmp/install-validators.log); export tests will use format checks only" >&2
fi
exit 0
