#!/usr/bin/env bash
# Install modelbus (core + every plugin in plugins/) into the current Python, editable,
# with the test and dev tools. Idempotent: when nothing changed since the last install
# (same pyproject files, same Python) a second run only checks, in about a second.
#   bash scripts/setup.sh           # core, plugins, test tools
#   MODELBUS_SETUP_FORCE=1 bash scripts/setup.sh   # reinstall regardless
# Needs: Python >= 3.11 with pip, a C/C++ compiler and cmake for llama-cpp-python (which
# has no binary wheels: the first build takes about 4-6 minutes on 2 cores; pip caches it).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing redis-server (Debian package) for the redis-cache tests" >&2
    apt-get update -qq >/dev/null && apt-get install -y -qq redis-server >/dev/null
  else
    echo "setup: redis-server not found; the redis-cache tests need it (apt-get install redis-server)" >&2
  fi
fi

args=(-e ".[dev]")
# docs/examples/modelbus-echo: the plugin tutorial's example, installed so its tests run.
for dir in plugins/openai plugins/azure plugins/local plugins/redis-cache plugins/structured-output \
           docs/examples/modelbus-echo; do
  [ -f "$dir/pyproject.toml" ] || continue
  case "$dir" in
    plugins/local) args+=(-e "$dir[embedded,test]") ;;
    *) args+=(-e "$dir") ;;
  esac
done

# The stamp ties an install to the exact pyproject files, this checkout and this Python.
stamp_dir=$("$PY" -c 'import sys, sysconfig; print(sysconfig.get_paths()["purelib"])')
stamp="$stamp_dir/.modelbus-setup-stamp"
want=$( { pwd; "$PY" -VV; cat pyproject.toml plugins/*/pyproject.toml docs/examples/*/pyproject.toml 2>/dev/null; } | sha256sum | cut -d' ' -f1)
# Conflicts among *our* distributions fail the set-up; others (say a benchmark-only
# package pinning an older openai) are reported and left alone.
ours() { "$PY" -m pip check 2>/dev/null | grep -E '^modelbus' || true; }
if [ -z "${MODELBUS_SETUP_FORCE:-}" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
   && [ -z "$(ours)" ]; then
  exit 0
fi
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
"$PY" -m pip install -q --disable-pip-version-check "${args[@]}" 2>&1 \
  | grep -v "Running pip as the 'root' user" || true
if [ -n "$(ours)" ]; then echo "setup: broken requirements:" >&2; ours >&2; exit 1; fi
"$PY" -m pip check >/dev/null 2>&1 || { echo "setup: note, other packages conflict:" >&2; "$PY" -m pip check >&2 || true; }
echo "$want" > "$stamp" 2>/dev/null || true
