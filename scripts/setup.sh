#!/usr/bin/env bash
# Install modelbus (core + every plugin in plugins/) into the current Python, editable,
# with the test and dev tools. Idempotent: a second run only checks.
#   bash scripts/setup.sh           # core, plugins, test tools
# Needs: Python >= 3.11 with pip, a C/C++ compiler and cmake for llama-cpp-python (which
# has no binary wheels: the first build takes ~6 minutes on 2 cores; pip caches it).
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
for dir in plugins/openai plugins/azure plugins/local plugins/redis-cache plugins/structured-output; do
  [ -f "$dir/pyproject.toml" ] || continue
  case "$dir" in
    plugins/local) args+=(-e "$dir[embedded,test]") ;;
    *) args+=(-e "$dir") ;;
  esac
done
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
"$PY" -m pip install -q --disable-pip-version-check "${args[@]}" 2>&1 | grep -v "Running pip as the 'root' user" || true
"$PY" -m pip check >/dev/null || { "$PY" -m pip check; exit 1; }
