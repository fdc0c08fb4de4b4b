#!/usr/bin/env bash
# Installs Debian's ClickHouse 18.16 for the tests, which start their own servers
# in temp dirs. Idempotent; needs root and apt only, no prompts.
set -euo pipefail

if [ -x /usr/sbin/clickhouse-server ] || command -v clickhouse-server >/dev/null 2>&1; then
  exit 0
fi

# The package enables a system service on 8123/9000; the tests don't want it
# running, so deny service starts for the duration of the install.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# tzdata: the server resolves time zones (UTC, DateTime('Europe/Berlin')) from /usr/share/zoneinfo.
apt-get install -y -q --no-install-recommends clickhouse-server clickhouse-client tzdata
