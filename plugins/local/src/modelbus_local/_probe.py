"""Finding a running local server: ``GET <base_url>/models`` on each candidate at once.

Used by ``server = "auto"``. Every candidate is asked concurrently (one thread each, a
short timeout); the answer of the first candidate *in the given order* that answers
``200`` with a model list wins, so the choice does not depend on which reply happened to
arrive first. The probe returns as soon as that candidate is known: a later candidate
that is slow does not delay it.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Mapping, Sequence
from typing import Any

from attrs import frozen

from ._presets import PRESETS, detect_flavour, detect_kind

__all__ = ["Probe", "ProbeResult", "describe_tried", "probe_servers"]


@frozen
class Probe:
    """The answer of one candidate: ``name`` (preset name or ``"base_url"``), ``base_url``
    probed, and either ``models`` (the decoded ``GET /models`` body) or ``error`` (why it
    did not count: connection refused, timeout, an HTTP status, a body that is not a model
    list)."""

    name: str
    base_url: str
    models: Mapping[str, Any] | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.models is not None

    @property
    def kind(self) -> str:
        """The server family the answer shows (else the preset probed, or ``generic``)."""
        return detect_kind(self.models, default=self.name if self.name in PRESETS else "generic")

    @property
    def flavour(self) -> str:
        return detect_flavour(self.models)


@frozen
class ProbeResult:
    """``found``: the winning probe or ``None``; ``tried``: every probe, in candidate
    order, completed or not (a candidate not waited for has ``error = "not waited for"``)."""

    found: Probe | None
    tried: tuple[Probe, ...]


def describe_tried(tried: Sequence[Probe]) -> str:
    """``"ollama http://127.0.0.1:11434/v1 (connection refused), ..."`` for messages."""
    return ", ".join(f"{p.name} {p.base_url} ({p.error or 'answered'})" for p in tried)


def _probe_one(name: str, base_url: str, timeout_s: float) -> Probe:
    import httpx2

    url = base_url.rstrip("/") + "/models"
    try:
        # trust_env=False: a proxy from the environment must not answer for localhost.
        # No TLS context for plain http (loading the CA store costs ~0.25 s); the probe
        # sends no credentials, and https URLs are verified.
        verify = url.startswith("https:")
        with httpx2.Client(timeout=timeout_s, trust_env=False, verify=verify) as http:
            r = http.get(url, headers={"Accept": "application/json"})
    except httpx2.ConnectError:
        return Probe(name, base_url, error="connection refused")
    except httpx2.TimeoutException:
        return Probe(name, base_url, error=f"no answer within {timeout_s:g} s")
    except httpx2.HTTPError as exc:
        return Probe(name, base_url, error=f"{type(exc).__name__}: {exc}")
    if r.status_code != 200:
        hint = "; it needs an api_key" if r.status_code in (401, 403) else ""
        return Probe(name, base_url, error=f"HTTP {r.status_code}{hint}")
    try:
        body = r.json()
    except ValueError:
        return Probe(name, base_url, error="answered, but not with JSON")
    if not isinstance(body, Mapping) or not isinstance(body.get("data"), list):
        return Probe(name, base_url, error="answered, but not with an OpenAI model list")
    return Probe(name, base_url, models=body)


def probe_servers(candidates: Sequence[tuple[str, str]], timeout_s: float) -> ProbeResult:
    """Probe ``candidates`` (``(name, base_url)`` pairs, in order of preference)
    concurrently, each with ``timeout_s`` seconds to connect and answer. Never raises for a
    server that is down: the reason is in ``ProbeResult.tried``."""
    if not candidates:
        return ProbeResult(None, ())
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=len(candidates), thread_name_prefix="modelbus-local-probe"
    )
    try:
        futures = [pool.submit(_probe_one, n, u, timeout_s) for n, u in candidates]
        tried: list[Probe] = []
        for fut in futures:
            p = fut.result()
            tried.append(p)
            if p.ok:
                tried.extend(
                    f.result() if f.done() else Probe(n, u, error="not waited for")
                    for (n, u), f in zip(
                        candidates[len(tried) :], futures[len(tried) :], strict=True
                    )
                )
                return ProbeResult(p, tuple(tried))
        return ProbeResult(None, tuple(tried))
    finally:
        # the threads of candidates not waited for end by their own timeout
        pool.shutdown(wait=False, cancel_futures=True)
