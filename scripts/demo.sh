#!/usr/bin/env bash
# `npm run demo`: the main job on the embedded defaults. Installs what is missing (npm
# dependencies; Orthanc with its DICOMweb plugin from Debian when run as root), then
# scripts/demo.ts starts a local Orthanc and the service, stores a demo study, waits for its
# score and its structured report, and prints the GraphQL URL with an example query and its
# answer. The last line is one JSON object for scripts.
#
# The demo study is a synthetic phantom (four digital views drawn by mammocad from a seed; not a
# patient, its probability means nothing clinically), so a fresh clone needs nothing from
# outside the repository. MAMMOCAD_DEMO_SOURCE=mias (or MAMMOCAD_DEMO_WOMAN=w002, a woman, or
# mdb003, one of her images) uses a mini-MIAS pair instead, where that research-only data is
# present (MAMMOCAD_SHARED_DATA_DIR).
#
# Interactive (a terminal on stdin): keeps serving until Ctrl-C. Otherwise it stops after the
# report, unless MAMMOCAD_DEMO_KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/ensure.sh

ensure_node_modules
ensure_debian_packages orthanc orthanc-dicomweb orthanc-gdcm || {
  log "Orthanc is needed for the demo; install the packages above and run again"
  exit 1
}

export MAMMOCAD_DATA_DIR="${MAMMOCAD_DATA_DIR:-$PWD/var/demo}"
mkdir -p "$MAMMOCAD_DATA_DIR"
node bin/mammocad.mjs config check >/dev/null   # a bad setting stops here, with its name
exec node --import tsx scripts/demo.ts
