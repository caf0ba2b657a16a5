#!/usr/bin/env bash
# `npm test`: installs what is missing, starts a local PostgreSQL when none is configured,
# then runs the whole suite (unit and integration, on SQLite and on PostgreSQL).
#
#   MAMMOCAD_TEST_PG_URL   admin URL of a PostgreSQL server the tests may create databases on
#                          (default: start the local Debian cluster, when running as root)
#   extra arguments go to vitest, e.g. `npm test -- test/unit`
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/ensure.sh

ensure_node_modules
ensure_debian_packages "${MAMMOCAD_DEBIAN_PACKAGES[@]}" || true

if [ -z "${MAMMOCAD_TEST_PG_URL:-}" ] && [ "$(id -u)" -eq 0 ] && command -v pg_lsclusters >/dev/null 2>&1; then
  MAMMOCAD_TEST_PG_URL=$(bash scripts/start-postgres.sh)
  export MAMMOCAD_TEST_PG_URL
fi
if [ -z "${MAMMOCAD_TEST_PG_URL:-}" ]; then
  log "no PostgreSQL for the tests (set MAMMOCAD_TEST_PG_URL): PostgreSQL cases will be skipped"
fi

exec npx vitest run "$@"
