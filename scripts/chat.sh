#!/usr/bin/env bash
# README's main command: install, then one real chat through the composed client.
#   bash scripts/chat.sh "What is the capital of France? Answer in one word."
# With no API key or server configured it runs on the embedded llama.cpp backend with
# SmolLM2-135M-Instruct (installed by scripts/setup.sh), through every real step
# (provider, tokens, sqlite cache, retry, cost). Run it twice: the second answer comes from
# the cache. MODELBUS_CONFIG=path/to/modelbus.toml runs another composition (a GGUF file
# of your own, Ollama, OpenAI...). Only the answer goes to stdout; set-up and status to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
prompt=${1:-"Say hello in five words."}
exec modelbus chat "$prompt" --config "${MODELBUS_CONFIG:-examples/modelbus.toml}"
