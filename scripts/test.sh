#!/usr/bin/env bash
# README's test command: install everything, then run the whole test suite.
# The tests start the servers they need themselves (a fault-injecting OpenAI-compatible
# server, redis-server, a llama.cpp server on a tiny model) on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${PYTHON:-python3}" -m pytest -q -p no:cacheprovider "$@"
