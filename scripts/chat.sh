#!/usr/bin/env bash
# README's main command: install, then one real chat through the composed client.
#   bash scripts/chat.sh "Say hello"
# With no API key or server configured it runs on the embedded llama.cpp backend with a
# tiny random-weights model (built on first use): the reply is noise, but it goes through
# every real step (provider, tokens, sqlite cache, retry, cost). Run it twice: the second
# answer comes from the cache. MODELBUS_CONFIG=path/to/modelbus.toml runs another
# composition (a real GGUF file, Ollama, OpenAI...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
prompt=${1:-"Say hello in five words."}
exec modelbus chat "$prompt" --config "${MODELBUS_CONFIG:-examples/modelbus.toml}"
