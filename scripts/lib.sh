# Shared helpers for the provisioning scripts. Sourced, not run.
# Everything built here is cached under RETORT_CACHE (default ~/.cache/retort), outside the repo,
# so a second run on the same machine is a no-op and CI on the same machine reuses it.
set -euo pipefail
RETORT_CACHE="${RETORT_CACHE:-$HOME/.cache/retort}"
mkdir -p "$RETORT_CACHE"

log() { printf '[provision] %s\n' "$*" >&2; }

# timed LABEL CMD...: runs CMD, reporting wall time and peak RSS (GNU time -v when present).
timed() {
  local label=$1; shift
  local t0=$SECONDS
  if [ -x /usr/bin/time ]; then
    local tv; tv=$(mktemp)
    /usr/bin/time -v -o "$tv" "$@"
    local rss; rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$tv")
    log "$label: $((SECONDS - t0)) s wall, peak RSS $((rss / 1024)) MiB"
    rm -f "$tv"
  else
    "$@"
    log "$label: $((SECONDS - t0)) s wall"
  fi
}
