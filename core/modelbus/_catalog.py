"""The model catalog: context windows, output limits and prices, from a data file.

``data/catalog.json`` ships with core (its ``_about`` says where each figure comes from);
plugins add entries through ``modelbus_register_catalog`` and config through
``[catalog."model"]`` (later wins, field by field). Prices are US dollars per 1M tokens;
windows and limits are tokens.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Any

import attrs

from ._wire.types import Usage

__all__ = ["Catalog", "CatalogEntry", "catalog_rows", "check_catalog_entry"]


@attrs.frozen
class CatalogEntry:
    """One model's figures; any may be ``None`` (unknown), and then no cost is computed.

    - ``context_window``: limit on prompt + completion tokens; ``max_input_tokens``: a
      separate limit on prompt tokens (gpt-5 family); ``max_output_tokens``: completion
      limit. All in tokens.
    - ``input_per_1m``, ``cached_input_per_1m``, ``output_per_1m``: US dollars per 1M
      tokens. ``tier_above_prompt_tokens``: prompts longer than this are billed at a
      higher tier the catalog does not hold, so their cost is unknown.
    - ``cache_write_per_1m``: US dollars per 1M prompt tokens written to the provider's
      prompt cache (Anthropic: 1.25x input; OpenAI from GPT-5.6 on), applied by
      :meth:`cost` to :attr:`Usage.cache_write_tokens`.
    - ``service_tiers``: prices of other service tiers, by the request's
      ``service_tier`` (``"flex"``, ``"priority"``) or ``"batch"`` (the Batch API):
      ``{"flex": {"input_per_1m": ..., "cached_input_per_1m": ..., "output_per_1m":
      ..., "cache_write_per_1m": ...}}``; a price a tier does not list is the base one.
    - ``training_per_1m``: US dollars per 1M fine-tuning training tokens (used by the
      fine-tuning cost estimate; modelbus-openai registers OpenAI's).
    - Capability flags (``None``: unknown, nothing is adapted): ``reasoning`` (a
      reasoning model), ``temperature`` (accepts ``temperature``/``top_p`` other than
      their defaults: OpenAI's reasoning models do not), ``max_tokens_param`` (the
      request parameter that limits output: ``"max_completion_tokens"`` for OpenAI's
      reasoning models, which refuse ``max_tokens``), ``vision``, ``tools``,
      ``structured_outputs``. See :func:`modelbus._engine.adapt_params.adapt_request`.
    - ``source``: where the figures come from; ``as_of``: the date they were read
      (YYYY-MM-DD).
    """

    model: str
    provider: str | None = None
    mode: str = "chat"
    context_window: int | None = None
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    input_per_1m: float | None = None
    cached_input_per_1m: float | None = None
    output_per_1m: float | None = None
    tier_above_prompt_tokens: int | None = None
    cache_write_per_1m: float | None = None
    service_tiers: Mapping[str, Mapping[str, float]] = attrs.field(factory=dict)
    training_per_1m: float | None = None
    reasoning: bool | None = None
    temperature: bool | None = None
    max_tokens_param: str | None = None
    vision: bool | None = None
    tools: bool | None = None
    structured_outputs: bool | None = None
    source: str | None = None
    as_of: str | None = None

    def price(self, name: str, service_tier: str | None = None) -> float | None:
        """The price ``name`` (``"input_per_1m"``...) in US dollars per 1M tokens, at
        ``service_tier`` when the entry lists that tier (``"default"``, ``"auto"`` and
        unlisted tiers: the base price)."""
        tier = self.service_tiers.get(service_tier) if service_tier else None
        if tier is not None and name in tier:
            return tier[name]
        value: float | None = getattr(self, name)
        return value

    def cost(self, usage: Usage, service_tier: str | None = None) -> float | None:
        """US dollars for ``usage``: prompt tokens neither read from nor written to the
        prompt cache at the input price, cached ones (``cached_tokens``) at the cached
        price, written ones (``cache_write_tokens``) at the cache-write price (either one
        the input price when the entry lists none: a model without a cache-write price
        bills writes as input), completion tokens (reasoning included) at the output
        price, all at ``service_tier``'s prices when listed (see :meth:`price`). ``None``
        if a needed price is unknown or the prompt falls in a price tier the catalog does
        not hold."""
        if service_tier is None or service_tier not in self.service_tiers:
            # The base prices (most calls): read directly, without four price() lookups.
            input_price, output_price = self.input_per_1m, self.output_per_1m
            cached_price, write_price = self.cached_input_per_1m, self.cache_write_per_1m
        else:
            input_price = self.price("input_per_1m", service_tier)
            output_price = self.price("output_per_1m", service_tier)
            cached_price = self.price("cached_input_per_1m", service_tier)
            write_price = self.price("cache_write_per_1m", service_tier)
        if input_price is None or (usage.completion_tokens and output_price is None):
            return None
        tier = self.tier_above_prompt_tokens
        if tier is not None and usage.prompt_tokens > tier:
            return None
        if cached_price is None:
            cached_price = input_price
        if write_price is None:
            write_price = input_price
        uncached = max(0, usage.prompt_tokens - usage.cached_tokens - usage.cache_write_tokens)
        total = (
            uncached * input_price
            + usage.cached_tokens * cached_price
            + usage.cache_write_tokens * write_price
            + usage.completion_tokens * (output_price or 0.0)
        )
        return total / 1_000_000


_FIELDS = {a.name for a in attrs.fields(CatalogEntry)} - {"model"}
_INT_FIELDS = {
    "context_window",
    "max_input_tokens",
    "max_output_tokens",
    "tier_above_prompt_tokens",
}
_TIER_PRICES = {"input_per_1m", "cached_input_per_1m", "output_per_1m", "cache_write_per_1m"}
_PRICE_FIELDS = _TIER_PRICES | {"training_per_1m"}
_FLAG_FIELDS = {"reasoning", "temperature", "vision", "tools", "structured_outputs"}
_MAX_TOKENS_PARAMS = ("max_tokens", "max_completion_tokens")


def _is_price(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def check_catalog_entry(name: str, fields: object) -> None:
    """Raise ``ValueError`` naming the model and key for an unknown key or a value of the
    wrong type (token limits: positive int; prices: number >= 0; others: str)."""
    if not isinstance(fields, Mapping):
        raise ValueError(
            f"catalog entry {name!r} must be a table of fields, got {type(fields).__name__}"
        )
    unknown = set(fields) - _FIELDS
    if unknown:
        raise ValueError(
            f"catalog entry {name!r}: unknown keys {sorted(unknown)}; accepted: {sorted(_FIELDS)}"
        )
    for key, value in fields.items():
        if value is None:
            continue
        if key in _INT_FIELDS:
            ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
            want = "a positive integer (tokens)"
        elif key in _PRICE_FIELDS:
            ok, want = _is_price(value), "a number >= 0 (US dollars per 1M tokens)"
        elif key in _FLAG_FIELDS:
            ok, want = isinstance(value, bool), "true or false"
        elif key == "max_tokens_param":
            ok, want = value in _MAX_TOKENS_PARAMS, f"one of {list(_MAX_TOKENS_PARAMS)}"
        elif key == "service_tiers":
            ok = isinstance(value, Mapping) and all(
                isinstance(t, Mapping)
                and set(t) <= _TIER_PRICES
                and all(map(_is_price, t.values()))
                for t in value.values()
            )
            want = f"a table of tiers, each with prices among {sorted(_TIER_PRICES)}"
        else:
            ok, want = isinstance(value, str), "a string"
        if not ok:
            raise ValueError(f"catalog entry {name!r}: {key} must be {want}, got {value!r}")


class Catalog:
    """Model name → :class:`CatalogEntry`. Lookup also tries the name without a dated
    suffix (``gpt-4o-2024-08-06`` → ``gpt-4o``) as OpenAI reports dated snapshots."""

    def __init__(self, entries: Mapping[str, CatalogEntry]) -> None:
        self._entries = dict(entries)
        # Names looked up before → their entry (or None): a dated name reported by every
        # response (gpt-4o-mini-2024-07-18) is resolved once, not on each call's pricing.
        self._resolved: dict[str, CatalogEntry | None] = {}

    @classmethod
    def load(cls, *overrides: Mapping[str, Mapping[str, Any]]) -> Catalog:
        """The shipped data file, then each mapping of overrides in order.

        Raises ``ValueError`` naming the model and key for an unknown field."""
        raw = json.loads(resources.files("modelbus").joinpath("data/catalog.json").read_text())
        merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in raw["models"].items()}
        for layer in overrides:
            for name, fields in layer.items():
                check_catalog_entry(name, fields)
                merged.setdefault(name, {}).update(fields)
        return cls({k: CatalogEntry(model=k, **v) for k, v in merged.items()})

    def get(self, model: str) -> CatalogEntry | None:
        """The entry of ``model``, or of its undated name; ``None`` when unknown."""
        try:
            return self._resolved[model]
        except KeyError:
            pass
        e = self._entries.get(model)
        if e is None:
            base, sep, tail = model.rpartition("-")
            # dated snapshots: gpt-4o-2024-08-06 → gpt-4o-2024-08 → ... → gpt-4o
            while sep and e is None and base:
                if tail.isdigit():
                    e = self._entries.get(base)
                    base, sep, tail = base.rpartition("-")
                else:
                    break
        if len(self._resolved) >= 4096:  # names from the wire: bounded
            self._resolved.clear()
        self._resolved[model] = e
        return e

    def cost(self, model: str, usage: Usage, service_tier: str | None = None) -> float | None:
        """US dollars for ``usage`` on ``model`` at ``service_tier`` (see
        :meth:`CatalogEntry.cost`), or ``None`` when unknown."""
        e = self.get(model)
        return None if e is None else e.cost(usage, service_tier)

    def __iter__(self) -> Iterator[CatalogEntry]:
        return iter(self._entries.values())

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and self.get(model) is not None

    def __len__(self) -> int:
        return len(self._entries)


_ROW_FIELDS = tuple(a.name for a in attrs.fields(CatalogEntry))


def catalog_rows(catalog: Catalog) -> list[dict[str, Any]]:
    """One JSON-ready dict per entry, sorted by model name, with every
    :class:`CatalogEntry` field (``None`` for unknown figures) — what
    ``modelbus models --json`` prints."""
    return [
        {name: getattr(e, name) for name in _ROW_FIELDS}
        for e in sorted(catalog, key=lambda e: e.model)
    ]
