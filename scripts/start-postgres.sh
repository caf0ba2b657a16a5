#!/usr/bin/env bash
# Starts a local PostgreSQL for the tests on 127.0.0.1 and prints its admin URL.
#
# Used by .ci/run and by `npm test` on a machine where PostgreSQL is installed from Debian
# but not running (policy-rc.d keeps services from starting on install in containers).
# Idempotent: a running cluster is reused. Needs root (it runs the server as postgres).
set -euo pipefail

PORT="${MAMMOCAD_TEST_PG_PORT:-5432}"
PASSWORD="${MAMMOCAD_TEST_PG_PASSWORD:-mammocad}"

if ! command -v pg_lsclusters >/dev/null 2>&1; then
  echo "start-postgres: PostgreSQL is not installed (apt-get install postgresql)" >&2
  exit 1
fi

version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters --no-header | awk '{print $1" "$2}' | grep -q "^$version main$"; then
  pg_createcluster "$version" main --port "$PORT" >/dev/null
fi
if ! pg_lsclusters --no-header | awk -v v="$version" '$1==v && $2=="main" {print $4}' | grep -q online; then
  pg_ctlcluster "$version" main start -o "-c listen_addresses=127.0.0.1 -c port=$PORT" >&2
fi
for _ in $(seq 1 30); do
  pg_isready -h 127.0.0.1 -p "$PORT" -q && break
  sleep 1
done
pg_isready -h 127.0.0.1 -p "$PORT" -q || { echo "start-postgres: server did not become ready" >&2; exit 1; }
runuser -u postgres -- psql -q -p "$PORT" -c "ALTER USER postgres PASSWORD '$PASSWORD'" >/dev/null
echo "postgresql://postgres:$PASSWORD@127.0.0.1:$PORT/postgres"
