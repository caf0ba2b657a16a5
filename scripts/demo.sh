#!/usr/bin/env bash
# `npm run demo`: the main job on the embedded defaults (SQLite under var/demo, in-process
# everything). Installs what is missing, starts the service, waits until it is ready, and
# prints where it is. The last line is one JSON object for scripts.
#
# Interactive (a terminal on stdin): the service keeps running until Ctrl-C.
# Otherwise it is stopped after the report, unless MAMMOCAD_DEMO_KEEP=1.
#
# Today the service answers /healthz and /readyz; the scoring pipeline (local Orthanc, a demo
# study from the shared MIAS data, SR written back, GraphQL) joins this script as it lands.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/ensure.sh

ensure_node_modules

export MAMMOCAD_DATA_DIR="${MAMMOCAD_DATA_DIR:-$PWD/var/demo}"
export MAMMOCAD_PORT="${MAMMOCAD_PORT:-4000}"
mkdir -p "$MAMMOCAD_DATA_DIR"
service_log="$MAMMOCAD_DATA_DIR/service.log"

node bin/mammocad.mjs config check >/dev/null   # a bad setting stops here, with its name
log "starting mammocad on 127.0.0.1:$MAMMOCAD_PORT (log: $service_log)"
node bin/mammocad.mjs serve >"$service_log" 2>&1 &
pid=$!
stop() { kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; }
trap stop EXIT

base="http://127.0.0.1:$MAMMOCAD_PORT"
ready=""
for _ in $(seq 1 120); do
  if ! kill -0 "$pid" 2>/dev/null; then
    log "the service exited during start-up; its log:"; cat "$service_log" >&2; exit 1
  fi
  ready=$(node -e "fetch('$base/readyz').then(r => r.text()).then(t => console.log(t), () => {})" || true)
  [[ "$ready" == *'"ready"'* ]] && break
  sleep 0.5
done
[[ "$ready" == *'"ready"'* ]] || { log "the service did not become ready; its log:"; cat "$service_log" >&2; exit 1; }
health=$(node -e "fetch('$base/healthz').then(r => r.text()).then(t => console.log(t))")

echo "mammocad is up at $base"
echo "  GET $base/healthz -> $health"
echo "  GET $base/readyz  -> $ready"
echo "  database: $MAMMOCAD_DATA_DIR/mammocad.db (SQLite)"
printf '{"status":"ready","url":"%s","healthz":%s,"readyz":%s}\n' "$base" "$health" "$ready"

if [ -t 0 ] || [ "${MAMMOCAD_DEMO_KEEP:-0}" = "1" ]; then
  log "serving; press Ctrl-C to stop"
  wait "$pid"
fi
