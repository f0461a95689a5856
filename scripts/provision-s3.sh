#!/usr/bin/env bash
# versitygw v1.7.0 (S3 API server, POSIX backend) for integration tests, built from the Go module proxy.
# Prints the binary's path on stdout.
source "$(dirname "$0")/lib.sh"
VERSION=v1.7.0
DIR="$RETORT_CACHE/versitygw/$VERSION"
BIN="$DIR/versitygw"
if [ ! -x "$BIN" ]; then
  command -v go >/dev/null || { log "go is missing: cannot build versitygw"; exit 1; }
  log "building versitygw $VERSION with go install"
  mkdir -p "$DIR"
  GOBIN="$DIR" CGO_ENABLED=0 timed "versitygw build" go install -trimpath -ldflags "-s -w" \
    "github.com/versity/versitygw/cmd/versitygw@$VERSION"
fi
echo "$BIN"
