#!/usr/bin/env bash
# Bench-only PyTorch (CPU) for the reference timings of bench/backend.ts. Python is never part of the
# product: this venv lives in the cache, outside the repo, and only bench/*.py use it.
#
# Idempotent and cached: a second run that finds a venv whose torch imports is a no-op.
#   venv:   $RETORT_CACHE/bench-venv          (RETORT_CACHE defaults to ~/.cache/retort)
#   wheels: $RETORT_CACHE/wheels              (the torch wheel is ~540 MB; downloaded once from PyPI)
# The PyPI torch wheel for Linux declares multi-GB CUDA dependencies (cuda-toolkit, nvidia-cudnn, nccl,
# triton, ...). A CPU-only benchmark needs none of them, so torch is installed with --no-deps plus its
# small pure-Python dependencies; only if `import torch` then fails is the full dependency set installed.
#
# Prints progress on stderr and, on success, the venv's python on stdout. Exit status 1 if torch
# cannot be installed (e.g. no access to PyPI); bench/backend.ts then reports `"torch": null`.
set -euo pipefail
RETORT_CACHE="${RETORT_CACHE:-$HOME/.cache/retort}"
TORCH_VERSION="${RETORT_BENCH_TORCH_VERSION:-2.15.0}"
VENV="$RETORT_CACHE/bench-venv"
WHEELS="$RETORT_CACHE/wheels"
PY="$VENV/bin/python"
# torch's install_requires minus the CUDA stack (setuptools is only needed by torch.utils.cpp_extension).
SMALL_DEPS=(filelock 'typing-extensions>=4.13.0' 'sympy>=1.13.3' mpmath 'networkx>=2.5.1' jinja2 MarkupSafe 'fsspec>=0.8.5')

log() { printf '[setup-torch] %s\n' "$*" >&2; }
torch_ok() { [ -x "$PY" ] && "$PY" -c 'import torch; torch.ones(2) @ torch.ones(2)' >/dev/null 2>&1; }
# numpy (with its bundled OpenBLAS) is the reference for the Sinkhorn hot path (bench/torch_hotpaths.py).
NUMPY_VERSION="${RETORT_BENCH_NUMPY_VERSION:-2.3.5}"
numpy_ok() { "$PY" -c 'import numpy' >/dev/null 2>&1; }
ensure_numpy() {
  numpy_ok && return 0
  log "installing numpy==$NUMPY_VERSION"
  "$PY" -m pip install --quiet "numpy==$NUMPY_VERSION" >&2 || { log "cannot install numpy"; return 1; }
}

if torch_ok; then
  ensure_numpy || true
  log "torch $("$PY" -W ignore -c 'import torch; print(torch.__version__)') already in $VENV"
  echo "$PY"
  exit 0
fi

t0=$SECONDS
if [ ! -x "$PY" ]; then
  log "creating venv $VENV ($(python3 --version))"
  python3 -m venv "$VENV"
fi
mkdir -p "$WHEELS"
tag="cp$("$PY" -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')"
wheel=$(ls "$WHEELS"/torch-"$TORCH_VERSION"-"$tag"-"$tag"-*linux*_x86_64.whl 2>/dev/null | head -n1 || true)
if [ -z "$wheel" ]; then
  log "downloading torch==$TORCH_VERSION wheel from PyPI into $WHEELS (~540 MB, once)"
  "$PY" -m pip download --no-deps --only-binary=:all: --dest "$WHEELS" "torch==$TORCH_VERSION" >&2 ||
    { log "cannot download torch==$TORCH_VERSION (no access to PyPI?)"; exit 1; }
  wheel=$(ls "$WHEELS"/torch-"$TORCH_VERSION"-"$tag"-"$tag"-*linux*_x86_64.whl 2>/dev/null | head -n1 || true)
  [ -n "$wheel" ] || { log "no torch==$TORCH_VERSION wheel for $tag/x86_64 linux in $WHEELS"; exit 1; }
fi
log "installing $(basename "$wheel") ($(du -m "$wheel" | cut -f1) MB) with --no-deps + ${SMALL_DEPS[*]}"
"$PY" -m pip install --quiet --no-deps "$wheel" >&2
"$PY" -m pip install --quiet "${SMALL_DEPS[@]}" >&2

if ! torch_ok; then
  log "import torch failed without the CUDA packages:"
  "$PY" -c 'import torch' 2>&1 | tail -n 3 >&2 || true
  log "installing torch==$TORCH_VERSION WITH its dependencies (several GB of nvidia-* wheels)"
  "$PY" -m pip install --quiet --find-links "$WHEELS" "torch==$TORCH_VERSION" >&2
  torch_ok || { log "torch still does not import; giving up"; exit 1; }
fi
ensure_numpy || true
log "torch $("$PY" -W ignore -c 'import torch; print(torch.__version__)') ready in $VENV: $((SECONDS - t0)) s, venv $(du -sm "$VENV" | cut -f1) MB"
echo "$PY"
