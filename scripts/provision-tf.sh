#!/usr/bin/env bash
# Native TensorFlow for tfjs without Google storage (specs/ecosystem.md §2.3, "Route B").
#
# @tensorflow/tfjs-node's install script downloads libtensorflow 2.9.1 from Google storage; offline
# that fails and npm drops the optional dependency. Instead we take the TensorFlow C library that
# ships inside the `tensorflow-cpu` PyPI wheel, stage it as a libtensorflow tree under
# $RETORT_CACHE, point node_modules/@tensorflow/tfjs-node/deps at it and compile the addon.
# Idempotent: a working binding is left alone. Where there is internet a plain `npm ci` installs
# tfjs-node the normal way and this script only verifies it.
#
# GPU hosts: RETORT_TF_FLAVOUR=gpu stages the CUDA-enabled `tensorflow` wheel instead and builds
# @tensorflow/tfjs-node-gpu (untested here: no GPU on the project's machines; see README).
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

TF_VERSION=2.21.0
FLAVOUR="${RETORT_TF_FLAVOUR:-cpu}"
if [ "$FLAVOUR" = gpu ]; then PKG=@tensorflow/tfjs-node-gpu; WHEEL_NAME=tensorflow; else PKG=@tensorflow/tfjs-node; WHEEL_NAME=tensorflow-cpu; fi
STAGE="$RETORT_CACHE/libtensorflow/$TF_VERSION-$FLAVOUR"

binding_ok() {
  TF_ENABLE_ONEDNN_OPTS=0 TF_CPP_MIN_LOG_LEVEL=2 node -e "
    const tf = require('$PKG');
    const v = tf.backend().binding.TF_Version;
    if (!v) process.exit(1);
    console.error('[provision] $PKG ok, TensorFlow ' + v);" 2>&1 >/dev/null | grep -v '^$' >&2
  return "${PIPESTATUS[0]}"
}

if [ -z "${RETORT_TF_FORCE:-}" ] && binding_ok 2>/dev/null; then exit 0; fi

# 1. libtensorflow tree from the PyPI wheel (cached).
if [ ! -e "$STAGE/lib/libtensorflow.so.2.9.1" ]; then
  WHEEL_DIR="$RETORT_CACHE/wheels"
  mkdir -p "$WHEEL_DIR"
  WHEEL=$(ls "$WHEEL_DIR"/${WHEEL_NAME//-/_}-$TF_VERSION-cp311-cp311-manylinux*_x86_64.whl 2>/dev/null | head -1 || true)
  if [ -z "$WHEEL" ]; then
    log "downloading $WHEEL_NAME==$TF_VERSION wheel from PyPI (~270 MB)"
    timed "wheel download" python3 -m pip download --quiet --no-deps --only-binary=:all: \
      --python-version 3.11 --platform manylinux_2_27_x86_64 --platform manylinux2014_x86_64 \
      "$WHEEL_NAME==$TF_VERSION" -d "$WHEEL_DIR"
    WHEEL=$(ls "$WHEEL_DIR"/${WHEEL_NAME//-/_}-$TF_VERSION-cp311-cp311-manylinux*_x86_64.whl | head -1)
  fi
  log "staging libtensorflow from $(basename "$WHEEL")"
  tmp=$(mktemp -d "$RETORT_CACHE/libtensorflow/.stage.XXXXXX" 2>/dev/null || { mkdir -p "$RETORT_CACHE/libtensorflow"; mktemp -d "$RETORT_CACHE/libtensorflow/.stage.XXXXXX"; })
  # The 14 headers the binding includes, and the two shared libraries (specs/ecosystem.md §2.1).
  timed "unpack" python3 - "$WHEEL" "$tmp" <<'PY'
import sys, zipfile, os, shutil
wheel, out = sys.argv[1], sys.argv[2]
headers = ['tensorflow/c/' + h for h in ['c_api.h', 'c_api_macros.h', 'eager/c_api.h', 'tf_attrtype.h',
           'tf_buffer.h', 'tf_datatype.h', 'tf_status.h', 'tf_tensor.h', 'tf_tstring.h']]
headers += ['tensorflow/core/platform/ctstring.h', 'tensorflow/core/platform/ctstring_internal.h',
            'tsl/platform/ctstring.h', 'tsl/platform/ctstring_internal.h', 'xla/tsl/c/tsl_status.h']
with zipfile.ZipFile(wheel) as z:
    for h in headers:
        dst = os.path.join(out, 'include', h)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with z.open('tensorflow/include/' + h) as src, open(dst, 'wb') as f:
            shutil.copyfileobj(src, f)
    os.makedirs(os.path.join(out, 'lib'), exist_ok=True)
    for lib in ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2']:
        with z.open('tensorflow/' + lib) as src, open(os.path.join(out, 'lib', lib), 'wb') as f:
            shutil.copyfileobj(src, f)
PY
  strip --strip-unneeded "$tmp/lib/"*.so.2 2>/dev/null || true
  # tfjs-node links -ltensorflow and checks for libtensorflow.so.2.9.1; the loader wants the SONAMEs.
  ln -s libtensorflow_cc.so.2 "$tmp/lib/libtensorflow.so"
  ln -s libtensorflow_cc.so.2 "$tmp/lib/libtensorflow.so.2.9.1"
  ln -s libtensorflow_framework.so.2 "$tmp/lib/libtensorflow_framework.so"
  rm -rf "$STAGE"; mv "$tmp" "$STAGE"
fi

# 2. The npm package itself (npm removes an optional dependency whose install script failed).
if [ ! -f "node_modules/$PKG/package.json" ]; then
  if [ "$FLAVOUR" = gpu ]; then
    timed "npm install $PKG" npm install --no-save --ignore-scripts --no-audit --no-fund "$PKG@4.22.0"
  else
    timed "npm install (restore optional $PKG)" npm install --no-save --ignore-scripts --no-audit --no-fund
  fi
fi

# 3. Point the package's deps/ at the staged tree and compile the addon against it.
rm -rf "node_modules/$PKG/deps"
ln -s "$STAGE" "node_modules/$PKG/deps"
buildlog="$RETORT_CACHE/libtensorflow/build-$FLAVOUR.log"
( cd "node_modules/$PKG" && timed "compile $PKG addon (log: $buildlog)" \
    npx --no-install node-pre-gyp install --build-from-source >"$buildlog" 2>&1 ) || { log "addon build failed: see $buildlog"; exit 1; }
binding_ok || { log "$PKG built but does not load"; exit 1; }
