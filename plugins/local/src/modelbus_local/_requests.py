"""Translating modelbus requests into llama-cpp-python calls, and its errors back.

llama-cpp-python's chat handler differs from the OpenAI API in ways this module absorbs:
``response_format`` only knows ``json_object`` with an optional ``schema`` (it ignores
``json_schema`` silently and falls back to any-JSON when a schema does not convert); a
GBNF grammar that llama.cpp cannot parse makes the sampler NULL and crashes the process;
and ``logit_bias`` together with a logits processor drops the processor. So grammars are
built and checked here, before any generation, and ``logit_bias`` is applied by
:class:`StepCounter`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from modelbus.errors import BadRequestError, ContextLengthExceededError, ProviderError
from modelbus.plugin import ChatRequest, Message, TextPart, ToolSpec, Usage, message_to_openai

from ._llama import LoadedModel

__all__ = [
    "EMBEDDED_PARAMS",
    "StepCounter",
    "StopScanner",
    "call",
    "chat_kwargs",
    "iterate",
    "usage",
    "wire_message",
    "wire_tools",
]

# Body parameters llama-cpp-python's create_chat_completion takes beyond the OpenAI ones;
# accepted in ``extra_body`` and passed through.
LLAMA_SAMPLING = frozenset(
    (
        "top_k",
        "min_p",
        "typical_p",
        "repeat_penalty",
        "tfs_z",
        "mirostat_mode",
        "mirostat_tau",
        "mirostat_eta",
    )
)
_EXTRA_KEYS = sorted((*LLAMA_SAMPLING, "grammar", "json_schema"))
#: The ChatRequest fields the embedded backend honours: what :func:`chat_kwargs` passes
#: to ``create_chat_completion`` (``n`` only as 1, ``max_completion_tokens`` as its
#: ``max_tokens``), and ``parallel_tool_calls``, which shapes the prompt-mode reply
#: (``_prompt_tools``). The rest has no llama.cpp counterpart: service tiers, prompt-cache
#: routing, stored completions, predicted outputs, web search, audio, ``verbosity``,
#: ``reasoning_effort``, ``safety_identifier``, ``user``.
EMBEDDED_PARAMS = frozenset(
    (
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "n",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "logit_bias",
        "presence_penalty",
        "frequency_penalty",
        "logprobs",
        "top_logprobs",
        "extra_body",
    )
)
# llama-cpp-python's messages for a prompt over n_ctx (chat) or over n_batch (embeddings)
_CONTEXT_RE = re.compile(
    r"Requested tokens \((\d+)\) exceed (?:context window|batch size) of (\d+)"
)


def chat_kwargs(
    req: ChatRequest,
    m: LoadedModel,
    *,
    model_name: str,
    default_max_tokens: int,
    provider: str,
) -> dict[str, Any]:
    """Keyword arguments for ``Llama.create_chat_completion`` from ``req``.

    Raises :class:`BadRequestError` for ``n`` > 1, image parts, an unknown
    ``response_format`` type or ``extra_body`` key, and a grammar or JSON schema that
    llama.cpp cannot use.
    """
    if req.n not in (None, 1):
        raise BadRequestError(
            f"n={req.n} is not supported by the embedded backend (one choice per call)",
            provider=provider,
            code="unsupported_parameter",
        )
    kw: dict[str, Any] = {
        "messages": [wire_message(x, provider=provider) for x in req.messages],
        "model": model_name,
        "max_tokens": req.max_tokens or req.max_completion_tokens or default_max_tokens,
    }
    for name in (
        "temperature",
        "top_p",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "logprobs",
        "top_logprobs",
        "tool_choice",
    ):
        value = getattr(req, name)
        if value is not None:
            kw[name] = dict(value) if isinstance(value, Mapping) else value
    if req.stop is not None:
        kw["stop"] = [req.stop] if isinstance(req.stop, str) else list(req.stop)
    if req.logit_bias:
        kw["logit_bias"] = _logit_bias(req.logit_bias, int(m.llama.n_vocab()), provider)
    if req.tools:
        kw["tools"] = wire_tools(req.tools)
    gbnf = _response_format_grammar(req.response_format, provider=provider)
    for key, value in (req.extra_body or {}).items():
        if key in LLAMA_SAMPLING:
            kw[key] = value
        elif key == "grammar":  # llama.cpp's GBNF body parameter
            if not isinstance(value, str):
                raise BadRequestError(
                    "extra_body['grammar'] must be a GBNF string",
                    provider=provider,
                    code="invalid_grammar",
                )
            gbnf = value
        elif key == "json_schema":  # llama.cpp server's body parameter
            gbnf = _schema_grammar(value, provider=provider)
        else:
            raise BadRequestError(
                f"extra_body key {key!r} is not supported by the embedded backend; "
                f"supported: {_EXTRA_KEYS}",
                provider=provider,
                code="unsupported_parameter",
            )
    if gbnf is not None:
        try:
            kw["grammar"] = m.grammar(gbnf)
        except ValueError as exc:
            raise BadRequestError(str(exc), provider=provider, code="invalid_grammar") from exc
    return kw


def _logit_bias(bias: Mapping[str, float], n_vocab: int, provider: str) -> dict[str, float]:
    """``logit_bias`` checked here: llama-cpp-python applies it inside a C callback, where
    an exception (a bad token id) is printed and ignored."""
    out: dict[str, float] = {}
    for key, value in bias.items():
        try:
            token = int(key)
        except ValueError:
            token = -1
        if not 0 <= token < n_vocab:
            raise BadRequestError(
                f"logit_bias key {key!r} is not a token id of this model (0..{n_vocab - 1})",
                provider=provider,
                code="invalid_logit_bias",
            )
        out[str(token)] = float(value)
    return out


def _response_format_grammar(rf: Mapping[str, Any] | None, *, provider: str) -> str | None:
    """The GBNF grammar for an OpenAI ``response_format`` (``None`` for text)."""
    if rf is None:
        return None
    kind = rf.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        schema = rf.get("schema")  # llama-cpp-python's extension
        if schema is not None:
            return _schema_grammar(schema, provider=provider)
        from llama_cpp.llama_grammar import JSON_GBNF

        return str(JSON_GBNF)
    if kind == "json_schema":
        spec = rf.get("json_schema") or {}
        schema = spec.get("schema")
        if not isinstance(schema, Mapping):
            raise BadRequestError(
                "response_format json_schema needs json_schema.schema (a JSON Schema object)",
                provider=provider,
                code="invalid_response_format",
            )
        return _schema_grammar(schema, provider=provider)
    raise BadRequestError(
        f"response_format type {kind!r} is not supported; use 'text', "
        "'json_object' or 'json_schema'",
        provider=provider,
        code="invalid_response_format",
    )


def _schema_grammar(schema: Any, *, provider: str) -> str:
    """A JSON Schema → GBNF, by llama-cpp-python's port of llama.cpp's converter."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    if not isinstance(schema, Mapping):
        raise BadRequestError(
            "a JSON schema must be an object", provider=provider, code="invalid_response_format"
        )
    try:
        return str(json_schema_to_gbnf(json.dumps(schema)))
    except Exception as exc:  # the converter raises bare Exceptions for unsupported schemas
        raise BadRequestError(
            f"JSON schema cannot be turned into a llama.cpp grammar: {exc}",
            provider=provider,
            code="invalid_response_format",
        ) from exc


def wire_message(m: Message, *, provider: str = "local") -> dict[str, Any]:
    """A Message as the dict llama-cpp-python's chat templates get (content as text)."""
    d = message_to_openai(m)
    c = m.content
    if isinstance(c, tuple):
        if any(not isinstance(p, TextPart) for p in c):
            raise BadRequestError(
                "image parts are not supported by the embedded backend (text-only models)",
                provider=provider,
                code="unsupported_parameter",
            )
        # Chat templates concatenate content as a string.
        d["content"] = m.text
    return d


def wire_tools(tools: Sequence[ToolSpec] | None) -> list[dict[str, Any]] | None:
    """``tools`` as OpenAI dicts (``None`` when empty)."""
    if not tools:
        return None
    out = []
    for t in tools:
        fn: dict[str, Any] = {"name": t.function.name, "parameters": dict(t.function.parameters)}
        if t.function.description is not None:
            fn["description"] = t.function.description
        out.append({"type": "function", "function": fn})
    return out


class StepCounter:
    """A llama-cpp-python logits processor that counts sampling steps. It also applies
    ``logit_bias`` itself, because llama-cpp-python drops the caller's logits processors
    when ``logit_bias`` is set too (its ``LogitsProcessorList.extend`` returns None)."""

    def __init__(self, logit_bias: Mapping[str, float] | None) -> None:
        self.steps = 0
        self._bias = {int(k): float(v) for k, v in (logit_bias or {}).items()}

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        self.steps += 1
        for token, bias in self._bias.items():
            scores[token] += bias
        return scores


class StopScanner:
    """Finds stop strings in streamed text as llama-cpp-python does (the first of
    ``stops``, in their order, that occurs), holding back a tail that may begin one."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in stops if s]
        self.pending = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """``(text safe to emit, whether a stop string was hit)``."""
        buf = self.pending + text
        for s in self.stops:
            at = buf.find(s)
            if at >= 0:
                self.pending = ""
                return buf[:at], True
        keep = 0
        for s in self.stops:
            for i in range(min(len(s) - 1, len(buf)), keep, -1):
                if buf.endswith(s[:i]):
                    keep = i
                    break
        self.pending = buf[len(buf) - keep :]
        return buf[: len(buf) - keep], False

    def flush(self) -> str:
        """The held-back text, when generation ended without a stop string."""
        out, self.pending = self.pending, ""
        return out


def usage(prompt_tokens: int, completion_tokens: int) -> Usage:
    return Usage(prompt_tokens, completion_tokens, prompt_tokens + completion_tokens)


def call(fn: Any, *args: Any, provider: str = "local", **kwargs: Any) -> Any:
    """Call into llama-cpp-python, turning its ValueErrors into modelbus errors."""
    try:
        return fn(*args, **kwargs)
    except ValueError as exc:
        raise _translate(exc, provider) from exc


def iterate(chunks: Any, *, provider: str = "local") -> Iterator[Any]:
    """Iterate a llama-cpp-python stream, translating its ValueErrors."""
    it = iter(chunks)
    while True:
        try:
            item = next(it)
        except StopIteration:
            return
        except ValueError as exc:
            raise _translate(exc, provider) from exc
        yield item


def _translate(exc: ValueError, provider: str) -> ProviderError:
    msg = str(exc)
    found = _CONTEXT_RE.search(msg)
    if found:
        return ContextLengthExceededError(
            msg,
            provider=provider,
            code="context_length_exceeded",
            prompt_tokens=int(found.group(1)),
            context_window=int(found.group(2)),
        )
    return BadRequestError(msg, provider=provider)
