"""Fitting a request to what its model accepts, from the catalog's capability flags.

OpenAI's reasoning models (the o-series, the gpt-5 family but its ``-chat`` models)
refuse ``max_tokens`` and sampling parameters other than their defaults with an HTTP 400
("Unsupported parameter: 'max_tokens' is not supported with this model. Use
'max_completion_tokens' instead."; OpenAI's "Reasoning models" guide lists the rest).
Rather than send a request that is certain to fail, modelbus adapts it before sending:

- ``max_tokens`` becomes ``max_completion_tokens`` where the entry says
  ``max_tokens_param = "max_completion_tokens"``;
- ``temperature``, ``top_p``, ``presence_penalty``, ``frequency_penalty``, ``logprobs``,
  ``top_logprobs`` and ``logit_bias`` are dropped where ``temperature = false`` (a value
  equal to the API's default, such as ``temperature=1``, is kept: it is accepted);
- ``reasoning_effort`` is dropped where ``reasoning = false``;
- ``tools`` where ``tools = false`` and image parts where ``vision = false`` are errors in
  any policy: dropping them would answer a different question.

With ``[modelbus] unsupported_params = "error"`` each of the adaptations above is a
:class:`BadRequestError` (``code="unsupported_parameter"``) raised before sending
instead. Flags left unknown (``None``) adapt nothing. Then the request is fitted to its
provider's declared fields (``Capabilities.params``, see ``_param_support``). I/O-free:
the caller logs the notes.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

from .._catalog import CatalogEntry
from .._wire.types import ChatRequest, ImagePart
from ..errors import BadRequestError
from .param_support import fit_to_provider

__all__ = ["SAMPLING_PARAMS", "UnsupportedParams", "adapt_request"]

UnsupportedParams = Literal["adapt", "error"]

# Parameters reasoning models reject, with the value the API takes as its default.
SAMPLING_PARAMS: dict[str, Any] = {
    "temperature": 1,
    "top_p": 1,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "logprobs": False,
    "top_logprobs": None,
    "logit_bias": None,
}


def _refuse(model: str, param: str, why: str, provider: str | None) -> BadRequestError:
    return BadRequestError(
        f"{param} is not supported by {model} ({why}; from the model catalog)",
        provider=provider,
        code="unsupported_parameter",
        hint=f'remove {param}, or set [modelbus] unsupported_params = "adapt"',
    )


def adapt_request(
    req: ChatRequest,
    entry: CatalogEntry | None,
    policy: UnsupportedParams = "adapt",
    *,
    provider: str | None = None,
    params: frozenset[str] | None = None,
) -> tuple[ChatRequest, tuple[str, ...]]:
    """``req`` fitted to ``entry``'s capability flags, then to the request fields its
    provider honours (``params``, from ``Capabilities.params``; ``None``: all), and one
    note per change (empty when nothing changed; then ``req`` itself is returned).

    Raises:
        BadRequestError: ``tools`` for a model without tools, an image for a model
            without vision, a field the provider does not honour that the reply must
            obey (``_param_support``), or any adaptation when ``policy`` is ``"error"``.
    """
    req, notes = _fit_model(req, entry, policy, provider)
    if params is None:
        return req, notes
    req, more = fit_to_provider(req, params, policy, provider=provider or "?")
    return req, notes + more


def _fit_model(
    req: ChatRequest, entry: CatalogEntry | None, policy: UnsupportedParams, provider: str | None
) -> tuple[ChatRequest, tuple[str, ...]]:
    if entry is None:
        return req, ()
    model = req.model
    if entry.tools is False and req.tools:
        raise _refuse(model, "tools", "the model cannot call tools", provider)
    if entry.vision is False and any(
        isinstance(part, ImagePart)
        for m in req.messages
        if isinstance(m.content, tuple)
        for part in m.content
    ):
        raise _refuse(model, "an image", "the model takes no images", provider)
    changes: dict[str, Any] = {}
    notes: list[str] = []
    if entry.max_tokens_param == "max_completion_tokens" and req.max_tokens is not None:
        if policy == "error":
            raise _refuse(model, "max_tokens", "it takes max_completion_tokens", provider)
        changes["max_tokens"] = None
        if req.max_completion_tokens is None:
            changes["max_completion_tokens"] = req.max_tokens
        notes.append(f"max_tokens sent as max_completion_tokens ({model} takes only that)")
    if entry.temperature is False:
        for name, default in SAMPLING_PARAMS.items():
            value = getattr(req, name)
            if value is None or value == default:
                continue
            if policy == "error":
                raise _refuse(model, name, "a reasoning model samples with its defaults", provider)
            changes[name] = None
            notes.append(f"{name}={value!r} dropped ({model} accepts only its default)")
    if entry.reasoning is False and req.reasoning_effort is not None:
        if policy == "error":
            raise _refuse(model, "reasoning_effort", "not a reasoning model", provider)
        changes["reasoning_effort"] = None
        notes.append(f"reasoning_effort dropped ({model} is not a reasoning model)")
    if not changes:
        return req, ()
    return attrs.evolve(req, **changes), tuple(notes)
