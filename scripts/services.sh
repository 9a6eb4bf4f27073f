#!/usr/bin/env bash
# Install (from Debian's packages, when missing), configure and start the PostgreSQL and Redis the
# tests use, then wait until both answer. Used by .ci/run; a laptop can run it too (as root, or with
# sudo), or follow the same steps by hand (CONTRIBUTING.md lists them).
#
# The tests log in as `postgres` over 127.0.0.1 without a password. This script makes PostgreSQL
# trust loopback connections for that: fine on a throwaway CI machine or a developer's laptop where
# only you can reach 127.0.0.1; never do this on a shared host or in a deployment.
set -euo pipefail

need_apt=()
command -v make >/dev/null || need_apt+=(make)
command -v pg_ctlcluster >/dev/null || need_apt+=(postgresql)
command -v redis-server >/dev/null || need_apt+=(redis-server)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing ${need_apt[*]} from Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

pg_version=$(ls /etc/postgresql | sort -V | tail -n1)
hba=/etc/postgresql/$pg_version/main/pg_hba.conf
if ! grep -q '^# oblivion-tests' "$hba"; then
  echo "PostgreSQL $pg_version: trusting loopback logins for the tests ($hba)"
  # First matching line wins, so the trust lines go on top.
  {
    echo "# oblivion-tests: passwordless loopback logins for the test suite (throwaway machines only)"
    echo "host all all 127.0.0.1/32 trust"
    echo "host all all ::1/128 trust"
    cat "$hba"
  } >"$hba.new"
  mv "$hba.new" "$hba"
  chown postgres:postgres "$hba"
  if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$pg_version" main reload
  fi
fi
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "starting PostgreSQL $pg_version"
  pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/oblivion-tests.log
fi

for _ in $(seq 1 60); do
  if pg_isready -h 127.0.0.1 -p 5432 -q && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    psql -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null \
      || { echo "PostgreSQL answers but refuses the passwordless login as postgres: see $hba" >&2; exit 1; }
    echo "PostgreSQL and Redis are up"
    exit 0
  fi
  sleep 1
done
echo "PostgreSQL or Redis did not answer within 60 s" >&2
exit 1
