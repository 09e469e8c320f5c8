"""The wire types: frozen attrs classes named as the OpenAI Chat Completions API names them.

Every field uses the OpenAI wire name (``messages``, ``role``, ``tool_calls``,
``tool_call_id``, ``finish_reason``, ``usage.prompt_tokens``) so that a reader who
knows the API knows these classes. JSON in and out goes through
:data:`modelbus.converter` (see ``_converter.py``); nothing in the core passes raw
dicts around.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs
from attrs import field, frozen

Role = Literal["system", "developer", "user", "assistant", "tool"]
_ROLES = frozenset(("system", "developer", "user", "assistant", "tool"))


@frozen
class TextPart:
    """A text part of a multi-part message ``content`` (``{"type": "text", "text": ...}``)."""

    text: str
    type: Literal["text"] = "text"


@frozen
class ImageURL:
    """``image_url`` of an image part: an ``https:`` URL or a ``data:`` URL (base64).

    ``detail`` is ``"low"``, ``"high"`` or ``"auto"`` as in OpenAI's vision guide; it
    changes the billed tokens (see the tiktoken counter).
    """

    url: str
    detail: Literal["low", "high", "auto"] | None = None


@frozen
class ImagePart:
    """An image part of a message ``content`` (``{"type": "image_url", "image_url": {...}}``)."""

    image_url: ImageURL
    type: Literal["image_url"] = "image_url"


ContentPart = TextPart | ImagePart


@frozen
class FunctionCall:
    """The ``function`` of a tool call: its ``name`` and its ``arguments`` as a JSON string."""

    name: str
    arguments: str = ""


@frozen
class ToolCall:
    """One entry of an assistant message's ``tool_calls``.

    ``arguments`` is kept as the JSON *string* the model produced, exactly as on the wire;
    parsing it is the tool registry's job, so malformed JSON is reported there.
    """

    id: str
    function: FunctionCall
    type: Literal["function"] = "function"


def _check_role(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    if value not in _ROLES:
        raise ValueError(f"role must be one of {sorted(_ROLES)}, got {value!r}")


def _content_tuple(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


@frozen
class Message:
    """One chat message (an entry of ``messages``).

    ``content`` is a ``str``, a tuple of :class:`TextPart` / :class:`ImagePart`, or
    ``None`` (an assistant message that only calls tools). ``reasoning_content`` carries
    the reasoning text that llama.cpp/vLLM (``reasoning_content``) and Ollama
    (``reasoning``) return beside the answer; it is never sent back to a provider.

    Raises ``ValueError`` for an unknown ``role``.
    """

    role: str = field(validator=_check_role)
    content: str | tuple[ContentPart, ...] | None = field(default=None, converter=_content_tuple)
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] | None = None
    tool_call_id: str | None = None
    refusal: str | None = None
    reasoning_content: str | None = None

    @property
    def text(self) -> str:
        """The text of ``content``: the string itself, or the text parts joined ("" if none)."""
        c = self.content
        if c is None:
            return ""
        if isinstance(c, str):
            return c
        return "".join(p.text for p in c if isinstance(p, TextPart))


@frozen
class FunctionSpec:
    """A function definition in ``tools``: ``parameters`` is a JSON Schema object."""

    name: str
    description: str | None = None
    parameters: Mapping[str, Any] = field(factory=dict)
    strict: bool | None = None


@frozen
class ToolSpec:
    """An entry of the request's ``tools`` (``{"type": "function", "function": {...}}``)."""

    function: FunctionSpec
    type: Literal["function"] = "function"


@frozen
class Usage:
    """Token usage as billed (``usage`` on the wire), all counts in tokens.

    ``cached_tokens`` comes from ``prompt_tokens_details.cached_tokens`` (prompt tokens
    read from the provider's prompt cache) and ``cache_write_tokens`` from
    ``prompt_tokens_details.cache_write_tokens`` (prompt tokens written to it, which
    OpenAI bills from GPT-5.6 on at the cache-write price; the field of the openai SDK's
    ``PromptTokensDetails`` and of genai-prices' OpenAI usage extractor); both are part
    of ``prompt_tokens``. ``reasoning_tokens`` comes from ``completion_tokens_details``
    and is part of ``completion_tokens``. ``estimated`` is True when modelbus counted the tokens
    because the server reported none (llama-cpp-python's streams, a server without a
    ``usage``): the counts are then close to, not always equal to, what was billed. It is
    not a wire field: a body parsed from the wire has ``estimated`` False and
    :func:`~modelbus._wire.converter.chat_response_to_openai` does not send it (cache values
    keep it beside the body). ``Usage + Usage`` adds field by field; the sum is
    ``estimated`` when either part is.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.total_tokens + other.total_tokens,
            self.cached_tokens + other.cached_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
            self.estimated or other.estimated,
            self.cache_write_tokens + other.cache_write_tokens,
        )


# The request parameters that may change a model's output. The cache key covers every one
# of them (see _cache_key.py); adding a field here adds it to the key.
@frozen(kw_only=True)
class ChatRequest:
    """One chat completion request, as sent to a provider.

    ``model`` is the provider's model name (aliases are already resolved). Parameters
    keep their OpenAI names and units (``max_tokens`` in tokens, ``temperature`` 0 to 2).
    ``extra_body`` is merged into the JSON body for provider-specific parameters (e.g.
    llama.cpp ``grammar``); it is part of the cache key. ``stream`` is set by the client,
    not by callers.

    The parameters of OpenAI's current Chat Completions API are fields of their own
    (names and values as in the API reference, "Create chat completion"):
    ``reasoning_effort`` and ``verbosity`` (``"low"``/``"medium"``/``"high"``...),
    ``service_tier`` (``"auto"``, ``"default"``, ``"flex"``, ``"priority"``: the cost
    uses that tier's catalog price), ``prompt_cache_key``, ``store``, ``metadata`` (up to
    16 string pairs), ``modalities``, ``prediction``, ``web_search_options`` and
    ``safety_identifier``. Those that do not change the reply (``service_tier``,
    ``prompt_cache_key``, ``store``, ``metadata``, ``safety_identifier``, ``user``) are
    left out of the cache key.
    """

    model: str
    messages: tuple[Message, ...]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | tuple[str, ...] | None = None
    seed: int | None = None
    n: int | None = None
    tools: tuple[ToolSpec, ...] | None = None
    tool_choice: str | Mapping[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: Mapping[str, Any] | None = None
    logit_bias: Mapping[str, float] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    reasoning_effort: str | None = None
    verbosity: str | None = None
    service_tier: str | None = None
    prompt_cache_key: str | None = None
    store: bool | None = None
    metadata: Mapping[str, str] | None = None
    modalities: tuple[str, ...] | None = None
    prediction: Mapping[str, Any] | None = None
    web_search_options: Mapping[str, Any] | None = None
    safety_identifier: str | None = None
    user: str | None = None
    extra_body: Mapping[str, Any] | None = None
    stream: bool = False


@frozen
class ChatResponse:
    """The result of one chat call, the first choice's ``message`` plus what modelbus knows.

    - ``provider``: the registered provider name that answered; ``model``: the model the
      provider reports (after fallbacks, the one that actually answered).
    - ``usage``: tokens as billed (``usage.estimated`` when modelbus had to count them);
      ``cost_usd``: US dollars from the model catalog, or ``None`` when a price is unknown
      (never an invented number).
    - ``cached``: served from a cache; ``attempts``: provider calls made (1 without retries,
      0 for a cache hit); ``latency_s``: wall time in seconds for the whole client call.
    - ``extra``: provider-specific response fields kept as sent (``timings``,
      ``prompt_filter_results``, ``system_fingerprint``...); ``raw``: the response body as
      decoded JSON when the provider keeps it (not cached).
    - ``transcript``: after a tool loop, every message of the exchange (input, assistant
      tool calls, tool results, final answer); empty otherwise. Like ``raw`` it is not
      part of equality or the cache value: it is the history around the answer.
    - ``parsed``: the reply as a Python value when a non-dict ``response_format`` (an
      attrs class, ``list[X]``...) was asked for, built by the response-format handler
      (modelbus-structured-output); ``None`` otherwise. Derived from ``message``, so it
      is neither part of equality nor of the cache value (a cache hit is parsed again).
    """

    id: str
    model: str
    message: Message
    finish_reason: str | None = None
    usage: Usage = field(factory=Usage)
    provider: str = ""
    cost_usd: float | None = None
    cached: bool = False
    attempts: int = 1
    latency_s: float = 0.0
    created: int | None = None
    logprobs: Any = None
    extra: Mapping[str, Any] = field(factory=dict)
    raw: Any = field(default=None, eq=False, repr=False)
    transcript: tuple[Message, ...] = field(default=(), eq=False, repr=False)
    parsed: Any = field(default=None, eq=False)

    @property
    def content(self) -> str | None:
        """The assistant text (``message.content``), or ``None`` for a tools-only reply."""
        c = self.message.content
        return c if c is None or isinstance(c, str) else self.message.text

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The tool calls the model asked for (empty when none)."""
        return self.message.tool_calls or ()


@frozen
class ToolCallDelta:
    """A fragment of a streamed tool call; fragments with the same ``index`` make one call."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str | None = None


@frozen
class ChatChunk:
    """One streamed chunk (a ``chat.completion.chunk``), first choice only.

    ``content``/``refusal``/``reasoning_content`` are text deltas; ``tool_calls`` are
    :class:`ToolCallDelta` fragments; ``usage`` arrives on the last chunk (OpenAI with
    ``stream_options.include_usage``) or on every chunk (vLLM continuous usage) — the
    aggregator keeps the last one seen.
    """

    id: str = ""
    model: str = ""
    role: str | None = None
    content: str | None = None
    refusal: str | None = None
    reasoning_content: str | None = None
    tool_calls: tuple[ToolCallDelta, ...] = ()
    finish_reason: str | None = None
    usage: Usage | None = None
    extra: Mapping[str, Any] = field(factory=dict)


@frozen(kw_only=True)
class EmbeddingRequest:
    """An embeddings request: ``input`` texts; ``dimensions``, the output width, where the
    model allows it."""

    model: str
    input: tuple[str, ...]
    dimensions: int | None = None
    user: str | None = None
    extra_body: Mapping[str, Any] | None = None


@frozen
class EmbeddingResponse:
    """Embedding vectors, one per input, in input order (float lists), and the token usage."""

    model: str
    vectors: tuple[tuple[float, ...], ...]
    usage: Usage = field(factory=Usage)
    provider: str = ""
    cost_usd: float | None = None
    cached: bool = False
    attempts: int = 1
    latency_s: float = 0.0
