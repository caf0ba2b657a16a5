# Shared by scripts/test.sh, scripts/demo.sh and .ci/run: install what is missing, so that on a
# fresh machine one command is enough. Source it; do not run it.

# Debian packages the service and its tests use: the PACS (Orthanc with DICOMweb and GDCM),
# the DICOM validators and dumpers (dicom3tools, dcmtk), PostgreSQL, and Chromium for the web
# console's browser test (test/browser, driven by playwright-core; no browser is downloaded).
MAMMOCAD_DEBIAN_PACKAGES=(orthanc orthanc-dicomweb orthanc-gdcm dcmtk dicom3tools libgdcm-tools postgresql chromium)

log() { printf '[mammocad] %s\n' "$*" >&2; }

# npm ci when node_modules is missing or older than the lock file.
ensure_node_modules() {
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "installing npm dependencies (npm ci)"
    npm ci --no-audit --no-fund
  fi
}

# Installs the named Debian packages that are missing, when running as root; otherwise says
# what to install and returns 1.
ensure_debian_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    log "missing Debian packages: ${missing[*]} (as root: apt-get install ${missing[*]})"
    return 1
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
