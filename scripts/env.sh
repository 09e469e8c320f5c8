# Sourced by the scripts: offline-friendly environment.
# tiktoken downloads its encodings on first use; where ../shared/tiktoken exists (this
# workplace's offline copy) point tiktoken at it.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${TIKTOKEN_CACHE_DIR:-}" ] && [ -d "$_root/../shared/tiktoken" ]; then
  export TIKTOKEN_CACHE_DIR="$(cd "$_root/../shared/tiktoken" && pwd)"
fi
if [ -z "${MODELBUS_WIRE_FIXTURES:-}" ] && [ -d "$_root/../shared/fixtures/wire" ]; then
  export MODELBUS_WIRE_FIXTURES="$(cd "$_root/../shared/fixtures/wire" && pwd)"
fi
