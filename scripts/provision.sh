#!/usr/bin/env bash
# Provisions, from the package registries only, what Retort needs and a fresh machine lacks:
# the Temporal CLI (dev server + UI), the versitygw S3 server (tests) and native TensorFlow for
# tfjs-node. Everything is cached under ~/.cache/retort; a second run takes a second.
#   scripts/provision.sh          everything (what `npm test` and CI need)
#   scripts/provision.sh start    what `npm start` needs (no S3 server)
source "$(dirname "$0")/lib.sh"
here="$(dirname "$0")"
t0=$SECONDS
bash "$here/provision-temporal.sh" >/dev/null
[ "${1:-all}" = start ] || bash "$here/provision-s3.sh" >/dev/null
if [ "${RETORT_TF_BACKEND:-auto}" != cpu ]; then
  bash "$here/provision-tf.sh" || log "native TensorFlow could not be provisioned: Retort will fall back to the slow pure-JS backend"
fi
log "ready ($((SECONDS - t0)) s)"
