"""Client configs of the campaign (config dicts, the public way to build a Client) and
their TOML form for the ``modelbus batch`` processes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from attrs import frozen

__all__ = ["API_KEY", "Scale", "client_config", "merge", "toml_text"]

# Shaped like an Azure key (32 hex digits), not like ``sk-...``: a key the log redaction's
# pattern does not catch, so only the core's handling of the configured key can hide it.
API_KEY = "5f0c2b9e8d7a4c3b9e1f2a6d8c4b7e90"


@frozen
class Scale:
    """The sizes of a run. ``small`` is for CI (well under a minute); ``full`` is the
    documented 2,000-request campaign."""

    name: str
    requests: int  # per mode of the fault scenario
    fault_rate: float  # probability that an attempt draws a fault
    stall_weight: float  # share of the faults that are stalls (each costs a mode 5 s)
    attempt_timeout_s: float  # the provider's timeout_s (a stall costs one)
    tasks: int  # concurrent tasks of achat / astream / abatch
    threads: int  # threads of chat / batch / the CLI's -c
    rate_calls: int  # calls per process of the shared-rpm scenario
    rpm: int  # its limit
    budget_calls: int  # concurrent calls of the budget scenarios
    batch_lines: int  # lines of the killed batch
    outage_calls: int  # calls of the Redis outage scenario

    @classmethod
    def of(cls, name: str) -> Scale:
        if name == "full":
            return cls("full", 2000, 0.10, 0.05, 5.0, 200, 16, 500, 600, 200, 2000, 2000)
        if name == "small":
            return cls("small", 200, 0.20, 0.0, 5.0, 200, 16, 200, 380, 200, 200, 600)
        raise ValueError(f"--scale is 'small' or 'full', got {name!r}")


def merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, tables recursively."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def client_config(
    base_url: str, scale: Scale, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The openai provider at the fault server, no cache, short backoff (so a run
    measures faults, not sleeps), warnings off (each retry logs one)."""
    config = {
        "modelbus": {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "cache": "none",
            "log_level": "error",
        },
        "providers": {
            "openai": {
                "base_url": base_url,
                "api_key": API_KEY,
                "timeout_s": scale.attempt_timeout_s,
            }
        },
        "retry_policies": {"exponential": {"initial_delay_s": 0.02, "max_delay_s": 0.2}},
    }
    return merge(config, extra or {})


def toml_text(config: Mapping[str, Any], prefix: str = "") -> str:
    """``config`` (tables of strings, numbers, booleans and lists) as TOML."""
    scalars, tables = [], []
    for key, value in config.items():
        name = json.dumps(key) if not key.replace("_", "").replace("-", "").isalnum() else key
        if isinstance(value, Mapping):
            tables.append(toml_text(value, f"{prefix}{name}."))
        else:
            scalars.append(f"{name} = {json.dumps(value)}")
    head = f"[{prefix[:-1]}]\n" if prefix and scalars else ""
    body = head + "".join(line + "\n" for line in scalars)
    return body + "".join(tables)
