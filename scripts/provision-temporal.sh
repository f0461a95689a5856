#!/usr/bin/env bash
# Temporal CLI (dev server + Web UI) v1.5.1, built from the Go module proxy.
# Later tags carry a `replace` directive and cannot be `go install`ed (see specs/temporal.md §a.2).
# Prints the binary's path on stdout.
source "$(dirname "$0")/lib.sh"
VERSION=v1.5.1
DIR="$RETORT_CACHE/temporal-cli/$VERSION"
BIN="$DIR/temporal"
if [ ! -x "$BIN" ]; then
  if command -v go >/dev/null; then
    log "building Temporal CLI $VERSION with go install (cold: several minutes)"
    mkdir -p "$DIR"
    GOBIN="$DIR" CGO_ENABLED=0 timed "temporal CLI build" go install -trimpath \
      -ldflags "-s -w -X github.com/temporalio/cli/temporalcli.Version=${VERSION#v}" \
      "github.com/temporalio/cli/cmd/temporal@$VERSION"
  else
    log "go is missing: cannot build the Temporal CLI from the module proxy."
    log "On a machine with internet, @temporalio/testing downloads the CLI itself (TestWorkflowEnvironment.createLocal)."
    exit 1
  fi
fi
echo "$BIN"
