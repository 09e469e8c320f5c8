"""Refresh the prices of ``core/modelbus/data/catalog.json`` from genai-prices.

    python scripts/update_catalog.py [--as-of YYYY-MM-DD] [--check]

genai-prices (pydantic/genai-prices, MIT; pinned in the ``dev`` extra) is a maintained
price list on the package index. modelbus reads a compact JSON file at run time instead of
importing it (importing genai-prices and building its data takes ~1.7 s; the catalog is
read on every ``Client()``), so this script turns the pinned release into that file:

- every OpenAI text chat and embedding model genai-prices lists (image, audio, realtime,
  search, fine-tune and other special-purpose models left out);
- the prices in force on ``--as-of`` (default: today): base input, cached input, output
  and cache-write prices per 1M tokens; ``tier_above_prompt_tokens`` where a long-context
  tier starts; the ``flex``, ``priority`` and ``batch`` prices under ``service_tiers``;
- context windows and output limits already in the file are kept (they came from
  LiteLLM's list; see its ``_about``); a new model takes genai-prices' ``context_window``;
- capability flags by OpenAI's rule for reasoning models (o-series and gpt-5 and later,
  but the ``-chat`` models): ``reasoning``, ``temperature = false`` and
  ``max_tokens_param = "max_completion_tokens"`` ("Reasoning models" guide; the API's
  400 "Unsupported parameter: 'max_tokens' ... Use 'max_completion_tokens' instead").

``--check`` exits 1 when the file differs from what this release gives (CI runs it
through ``tests/core/test_catalog_source.py``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

CATALOG = Path(__file__).resolve().parent.parent / "core" / "modelbus" / "data" / "catalog.json"
CHAT = re.compile(r"^(gpt-(3\.5|4|5|6)|o[134]\b|o[134]-|chatgpt-4o)")
EMBEDDING = re.compile(r"^text-embedding-")
SKIP = re.compile(
    r"image|audio|realtime|transcribe|tts|search|live|deep-research|instruct|cyber|"
    r"rosalind|codex|vision|:|^ft|\.ft-|32k"
)
REASONING = re.compile(r"^(o[134]|gpt-([5-9]|\d\d))")
TIERS = {("service_tier", "flex"): "flex", ("service_tier", "priority"): "priority"}
TIERS[("processing", "batch")] = "batch"
PRICES = {
    "input_mtok": "input_per_1m",
    "cache_read_mtok": "cached_input_per_1m",
    "output_mtok": "output_per_1m",
    "cache_write_mtok": "cache_write_per_1m",
}


def _number(d: Decimal) -> float | int:
    f = float(d)
    return int(f) if f.is_integer() else f


def _prices(mp: Any) -> tuple[dict[str, float | int], int | None]:
    out: dict[str, float | int] = {}
    tier_start: int | None = None
    for src, dst in PRICES.items():
        v = getattr(mp, src, None)
        if v is None:
            continue
        if isinstance(v, Decimal):
            out[dst] = _number(v)
        else:  # TieredPrices: the base price; the first tier's start bounds it
            out[dst] = _number(v.base)
            starts = [t.start for t in v.tiers]
            if starts:
                tier_start = min(starts) if tier_start is None else min(tier_start, *starts)
    return out, tier_start


def _in_force(prices: Any, as_of: dt.date) -> Any:
    if not isinstance(prices, list):
        return prices
    chosen = None
    for cp in prices:
        start = getattr(cp.constraint, "start_date", None)
        if cp.constraint is None or (start is not None and start <= as_of):
            chosen = cp.prices
    return chosen


def entries(as_of: dt.date) -> dict[str, dict[str, Any]]:
    """The catalog entries genai-prices gives for OpenAI's models on ``as_of``."""
    from genai_prices.data import providers

    version = metadata.version("genai-prices")
    (openai,) = [p for p in providers if p.id == "openai"]
    url = (openai.pricing_urls or [""])[0]
    out: dict[str, dict[str, Any]] = {}
    for m in openai.models:
        chat = bool(CHAT.search(m.id))
        if not (chat or EMBEDDING.search(m.id)) or SKIP.search(m.id) or m.deprecated:
            continue
        mp = _in_force(m.prices, as_of)
        if mp is None:
            continue
        base, tier_start = _prices(mp)
        if "input_per_1m" not in base:
            continue
        e: dict[str, Any] = {"provider": "openai", "mode": "chat" if chat else "embedding"}
        e["context_window"] = m.context_window
        e.update(base)
        e["tier_above_prompt_tokens"] = tier_start
        tiers: dict[str, dict[str, float | int]] = {}
        for v in m.price_variants or ():
            name = next((TIERS[kv] for kv in v.when.items() if kv in TIERS), None)
            if name is not None:
                prices, _ = _prices(v.prices)
                if prices:
                    tiers[name] = prices
        if tiers:
            e["service_tiers"] = dict(sorted(tiers.items()))
        if chat:
            reasoning = bool(REASONING.search(m.id)) and "-chat" not in m.id
            e["reasoning"] = reasoning
            e["temperature"] = not reasoning
            e["max_tokens_param"] = "max_completion_tokens" if reasoning else None
        e["source"] = f"genai-prices {version} (pydantic/genai-prices, MIT): openai/{m.id}; {url}"
        e["as_of"] = as_of.isoformat()
        out[m.id] = e
    return out


def merged(current: dict[str, Any], fresh: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``current`` with ``fresh`` prices and flags; limits already known are kept."""
    models: dict[str, dict[str, Any]] = {k: dict(v) for k, v in current["models"].items()}
    for name, e in fresh.items():
        old = models.get(name, {})
        new = {**old, **{k: v for k, v in e.items() if v is not None}}
        for k in ("context_window", "max_input_tokens", "max_output_tokens"):
            if k in old:  # LiteLLM's limits (see _about) stay; genai-prices has windows only
                new[k] = old[k]
        if old.get("mode"):
            new["mode"] = old["mode"]
        limits = str(old.get("source", ""))
        if "LiteLLM" in limits:
            limits = limits.split("; context and output limits: ")[-1]
            new["source"] = f"{e['source']}; context and output limits: {limits}"
        models[name] = new
    return {"_about": current["_about"], "models": dict(sorted(models.items()))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--as-of", type=dt.date.fromisoformat, default=None)
    ap.add_argument("--check", action="store_true", help="exit 1 if the file is not current")
    args = ap.parse_args(argv)
    current = json.loads(CATALOG.read_text())
    if args.as_of is None:  # --check: the date the file was made for; else today
        made = [e.get("as_of") for e in current["models"].values() if "genai-prices" in str(e)]
        args.as_of = dt.date.fromisoformat(max(made)) if args.check and made else dt.date.today()
    text = json.dumps(merged(current, entries(args.as_of)), indent=2, ensure_ascii=False) + "\n"
    if args.check:
        if text != CATALOG.read_text():
            print(f"{CATALOG} is not what genai-prices gives; run {sys.argv[0]}", file=sys.stderr)
            return 1
        return 0
    CATALOG.write_text(text)
    print(f"{CATALOG}: {len(json.loads(text)['models'])} models", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
