"""The span and metric attributes of a call that do not depend on its events: what every
call of one route shares (:class:`Route`, built once), a request's ``gen_ai.request.*``
and a provider endpoint's ``server.*`` (OpenTelemetry semantic conventions v1.41.0,
``gen-ai-spans.md``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from opentelemetry.trace import SpanKind

from modelbus import ChatRequest

__all__ = ["MEMO_MAX", "Route", "provider_name", "request_attributes"]

MEMO_MAX = 256  # distinct routes (or response models of one) kept; beyond that, rebuilt

# modelbus provider names → the conventions' well-known gen_ai.provider.name values.
_PROVIDERS = {"openai": "openai", "azure": "azure.ai.openai"}
_OPERATION = {"chat": "chat", "embeddings": "embeddings", "tool_loop": "invoke_agent"}


def provider_name(provider: str) -> str:
    """``gen_ai.provider.name`` for a modelbus provider: the well-known value where one
    applies (``openai``, ``azure.ai.openai``), else the modelbus name (``local``...)."""
    return _PROVIDERS.get(provider, provider)


def _server(endpoint: str | None) -> dict[str, Any]:
    """``server.address`` / ``server.port`` of a provider's endpoint (a base URL)."""
    if not endpoint or "://" not in endpoint:
        return {}
    try:
        u = urlsplit(endpoint.split()[0])
        host, port = u.hostname, u.port
    except ValueError:
        return {}
    if not host:
        return {}
    port = port or {"https": 443, "http": 80}.get(u.scheme)
    return {"server.address": host, "server.port": port} if port else {"server.address": host}


def request_attributes(req: ChatRequest, out: dict[str, Any]) -> dict[str, Any]:
    """``out`` with the request's ``gen_ai.request.*`` attributes added."""
    # Unrolled: this runs on every chat call, and most requests set one or two of these.
    if req.temperature is not None:
        out["gen_ai.request.temperature"] = req.temperature
    if req.top_p is not None:
        out["gen_ai.request.top_p"] = req.top_p
    if req.seed is not None:
        out["gen_ai.request.seed"] = req.seed
    if req.frequency_penalty is not None:
        out["gen_ai.request.frequency_penalty"] = req.frequency_penalty
    if req.presence_penalty is not None:
        out["gen_ai.request.presence_penalty"] = req.presence_penalty
    max_tokens = req.max_completion_tokens if req.max_tokens is None else req.max_tokens
    if max_tokens is not None:
        out["gen_ai.request.max_tokens"] = max_tokens
    if req.stop is not None:
        out["gen_ai.request.stop_sequences"] = (
            (req.stop,) if isinstance(req.stop, str) else req.stop
        )
    if req.n is not None and req.n != 1:
        out["gen_ai.request.choice.count"] = req.n
    return out


class Route:
    """What every call of one (operation, provider, model, endpoint) shares: the span's
    name, kind and start attributes, and the metrics' attribute sets, built once rather
    than per call. The dicts are handed to the SDK, which copies them (spans and
    measurements both clean their attributes into new dicts); they are never mutated."""

    __slots__ = ("attrs", "kind", "name", "sets")

    def __init__(self, operation: str, provider: str, model: str, endpoint: str | None) -> None:
        op = _OPERATION[operation]
        self.attrs: dict[str, Any] = {
            "gen_ai.operation.name": op,
            "gen_ai.provider.name": provider_name(provider),
            "gen_ai.request.model": model,
            **_server(endpoint),
        }
        if operation == "tool_loop":
            self.name, self.kind = op, SpanKind.INTERNAL  # no agent name: "invoke_agent" alone
        else:
            self.name, self.kind = f"{op} {model}", SpanKind.CLIENT
        # The metric attribute sets by response model (read first by the observer).
        self.sets: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {}

    def finished(self, response_model: str) -> tuple[dict[str, Any], ...]:
        """The attribute sets of a finished call's duration, input-token and output-token
        records, for the model that answered (``""``: not reported)."""
        known = self.sets.get(response_model)
        if known is None:
            base = self.attrs
            if response_model:
                base = {**base, "gen_ai.response.model": response_model}
            known = (
                base,
                {**base, "gen_ai.token.type": "input"},
                {**base, "gen_ai.token.type": "output"},
            )
            if len(self.sets) < MEMO_MAX:
                self.sets[response_model] = known
        return known
