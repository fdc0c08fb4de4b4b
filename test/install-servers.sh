#!/usr/bin/env bash
# Installs the database servers the tests start on their own (nothing is left running):
#   - ClickHouse (Debian's clickhouse-server), for the ClickHouse source tests;
#   - PostgreSQL 15 (Debian's, brought to the newest Debian 12 point release), for the
#     native-server tests: TimescaleDB, server restarts and crashes, an older source major;
#   - TimescaleDB 2.28.3 from ../shared/timescaledb when that folder is there (it is built
#     against the newest PostgreSQL 15 point release, hence the upgrade above).
# Idempotent; needs root (or sudo) and apt. Without them it says what it could not do and
# the tests that need the missing server say so in their suite names (under CI=true they fail).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "install-servers: not root and no sudo: installing nothing (tests that need a missing server will say so)" >&2
    exit 0
  fi
fi
if ! command -v apt-get >/dev/null; then
  echo "install-servers: no apt-get: installing nothing (tests that need a missing server will say so)" >&2
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# Packages that ship a server start it on install, and Debian's postgresql-15 also creates a
# 'main' cluster: the tests want neither. Both are switched off for this install only and
# put back as they were on exit.
CC_CONF=/etc/postgresql-common/createcluster.conf
CC_BACKUP=$(mktemp)
CC_EXISTED=0
if [ -f "$CC_CONF" ]; then CC_EXISTED=1; $SUDO cat "$CC_CONF" >"$CC_BACKUP"; fi
POLICY_ADDED=0
cleanup() {
  if [ "$POLICY_ADDED" = 1 ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
  if [ "$CC_EXISTED" = 1 ]; then $SUDO cp "$CC_BACKUP" "$CC_CONF"; else $SUDO rm -f "$CC_CONF"; fi
  rm -f "$CC_BACKUP"
}
trap cleanup EXIT
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  POLICY_ADDED=1
fi
$SUDO mkdir -p /etc/postgresql-common
echo "create_main_cluster = off" | $SUDO tee -a "$CC_CONF" >/dev/null

$SUDO apt-get update -q
# tzdata: ClickHouse resolves time zones from /usr/share/zoneinfo. postgresql-15 is installed
# or upgraded to the candidate: the shared TimescaleDB build needs the newest point release.
$SUDO apt-get install -y -q --no-install-recommends clickhouse-server clickhouse-client tzdata postgresql-15 postgresql-client-15

if [ -f ../shared/timescaledb/install.sh ]; then
  bash ../shared/timescaledb/install.sh
else
  echo "install-servers: ../shared/timescaledb is absent: the TimescaleDB tests will say they were skipped (under CI=true they fail)" >&2
fi
