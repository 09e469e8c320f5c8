"""Fitting a request to what its provider honours, from ``Capabilities.params``.

A provider that cannot honour a request field would otherwise ignore it in silence
(llama-cpp-python drops unknown body keys, Ollama's Go decoder too, vLLM logs and
ignores them), and the caller would believe a ``service_tier`` or ``prompt_cache_key``
applied. So each provider declares the :class:`~modelbus.ChatRequest` fields it honours
(:attr:`modelbus.Capabilities.params`) and the client, before sending:

- sends ``max_completion_tokens`` as ``max_tokens`` to a provider that takes only that
  (the same limit under its older name; llama-cpp-python's server reads no other);
- refuses, in any policy, a field the reply must obey or contain: ``tools``,
  ``tool_choice``, ``response_format``, ``stop``, ``web_search_options``, ``n`` above 1
  and ``modalities`` other than ``["text"]``. Dropping one of them would answer a
  different question, the rule ``_adapt_params`` applies to tools and images;
- drops any other unsupported field with a note (``unsupported_params = "adapt"``,
  the default), or refuses it under ``unsupported_params = "error"``.

The error is a :class:`BadRequestError` with ``code="unsupported_parameter"`` naming the
field and the provider, and its hint says what to do. ``extra_body`` is never touched:
it is the provider-specific way in. I/O-free: the caller logs the notes.
"""

from __future__ import annotations

from typing import Any

import attrs

from .._wire.params import REQUEST_PARAMS
from .._wire.types import ChatRequest
from ..errors import BadRequestError
from ..protocols import Capabilities

__all__ = ["MUST_OBEY", "fit_to_provider", "supported_params"]

# Fields whose absence changes what is asked, not only how it is served or billed.
MUST_OBEY = frozenset(
    ("tools", "tool_choice", "response_format", "stop", "web_search_options", "n", "modalities")
)


def supported_params(provider: object) -> frozenset[str] | None:
    """The request fields ``provider`` declares it honours (``capabilities.params``),
    ``None`` when it declares none (every field is passed on)."""
    caps = getattr(provider, "capabilities", None)
    return caps.params if isinstance(caps, Capabilities) else None


def _needs_obeying(name: str, value: Any) -> bool:
    if name == "n":
        return bool(value != 1)
    if name == "modalities":
        return tuple(value) != ("text",)
    return name in MUST_OBEY


def _refusal(name: str, value: Any, provider: str, policy_error: bool) -> BadRequestError:
    if policy_error:
        what = f'remove {name} from the call, or set [modelbus] unsupported_params = "adapt"'
    else:
        what = f"remove {name} from the call, or send it to a provider that honours it"
    return BadRequestError(
        f"{name}={value!r} is not supported by provider {provider!r} (not among the "
        "request fields it declares it honours)",
        provider=provider,
        code="unsupported_parameter",
        hint=what,
    )


def fit_to_provider(
    req: ChatRequest,
    params: frozenset[str] | None,
    policy: str = "adapt",
    *,
    provider: str,
) -> tuple[ChatRequest, tuple[str, ...]]:
    """``req`` with the fields ``params`` leaves out renamed or dropped, and one note per
    change (``req`` itself and no note when nothing changed; ``params`` ``None``: every
    field is honoured). ``policy`` is ``[modelbus] unsupported_params``.

    Raises:
        BadRequestError: ``code="unsupported_parameter"``, for a field the reply must
            obey (module doc), or any unsupported field when ``policy`` is ``"error"``.
    """
    if params is None:
        return req, ()
    changes: dict[str, Any] = {}
    notes: list[str] = []
    for name in sorted(REQUEST_PARAMS - params - {"extra_body"}):
        value = getattr(req, name)
        if value is None:
            continue
        if _needs_obeying(name, value):
            raise _refusal(name, value, provider, policy_error=False)
        if policy == "error":
            raise _refusal(name, value, provider, policy_error=True)
        changes[name] = None
        if name == "max_completion_tokens" and "max_tokens" in params:
            if req.max_tokens is None:
                changes["max_tokens"] = value
            notes.append(f"max_completion_tokens sent as max_tokens ({provider} takes only that)")
        else:
            notes.append(f"{name} dropped (provider {provider!r} does not support it)")
    if not changes:
        return req, ()
    return attrs.evolve(req, **changes), tuple(notes)
