"""``ProviderContract``: what every provider plugin must do, as a pytest class.

Subclass it in a test module and provide a ``provider`` fixture returning the object your
plugin's factory makes (built from its settings, talking to whatever backend the test
starts: a :class:`~modelbus.testing.server.WireServer`, a local server, or nothing for a
provider that computes its reply)::

    from modelbus.testing.contracts_provider import ProviderContract

    class TestEchoProvider(ProviderContract):
        @pytest.fixture
        def provider(self):
            return EchoProvider(EchoSettings(prefix="> "))

Override ``model`` (the model name sent, default ``"test-model"``) and ``prompt`` when
your backend needs others; set ``embeddings = True`` on the class when the provider
serves embeddings (``embed``/``aembed``).

What is checked, on whichever side (sync, async, or both) the provider implements — the
other side is supplied by :func:`modelbus.adapt_provider`, as the client does:

- the object: a non-empty ``name``; a sync or async provider protocol; ``capabilities``
  a :class:`modelbus.Capabilities` and ``cache_identity`` a string when present;
- ``chat``/``achat`` return a :class:`~modelbus.ChatResponse` whose ``message`` has the
  ``assistant`` role and whose ``model`` is a string;
- ``stream``/``astream`` yield :class:`~modelbus.ChatChunk` objects, the last one with
  a ``finish_reason``, that a :class:`~modelbus.StreamAccumulator` turns into an
  assistant reply;
- through a real :class:`~modelbus.Client` (memory cache, fake clock): the response names
  the provider, took one attempt, and the same call again is a cache hit with the same
  message, sync and async; a streamed reply's chunks add up to ``stream.response``;
- the request fields the provider leaves out of ``capabilities.params``: through the
  client, each is dropped before sending (on a WireServer, absent from the body sent), or
  refused by name with nothing sent, under ``unsupported_params = "error"`` and for
  those the reply must obey (``stop``, ``web_search_options``, ``n`` > 1, audio);
- with ``embeddings = True``: one vector per input, of one length; with ``False`` (no
  ``embed``/``aembed``), an embeddings call is a :class:`~modelbus.errors.PluginError`
  naming the provider;
- the error paths, through a ``faults`` fixture you supply (see
  :mod:`modelbus.testing.faults`): a 429 with ``Retry-After``, a 5xx, a connection
  reset, a stall past the timeout, and stream errors right after a role-only first chunk
  and after content. The provider must raise the matching
  :class:`~modelbus.errors.ProviderError` subclass with ``status_code``,
  ``retry_after_s`` and ``request_id``; the Client must retry it (after the
  ``Retry-After``), and a stream only before its first content. Return ``None`` from
  ``faults`` for a provider that does no network I/O: it must then answer with socket
  connections refused. For a provider on the WireServer::

      @pytest.fixture
      def faults(self, wire_server):
          return WireFaults(wire_server)   # from modelbus.testing.faults

  Build the provider with its usual timeout (seconds, long enough for a loaded machine):
  the stalled attempt alone gets a 0.25 s one through ``modelbus.attempt_limits``, which
  the provider must honour (a provider that does not times out the stall on its own
  ``timeout_s`` instead).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from .._client import Client
from .._config.config import Config
from .._engine.param_support import supported_params
from .._engine.provider_adapter import AdaptedProvider, adapt_provider
from .._plugins.loading import load_plugins
from .._plugins.registry import Registration
from .._wire.params import REQUEST_PARAMS
from .._wire.stream_accumulator import StreamAccumulator
from .._wire.types import ChatChunk, ChatRequest, ChatResponse, EmbeddingRequest, Message
from ..errors import BadRequestError, PluginError
from ..protocols import AsyncProvider, Capabilities, SyncProvider
from ._fake import FakeClock
from ._provider_faults import FaultPaths

__all__ = ["ProviderContract", "client_for"]

# A value for each request field that is dropped when a provider does not honour it...
DROPPABLE_SAMPLES: dict[str, Any] = {
    "temperature": 0.5,
    "top_p": 0.5,
    "max_tokens": 16,
    "max_completion_tokens": 16,
    "seed": 7,
    "n": 1,
    "parallel_tool_calls": False,
    "logit_bias": {"42": 1.0},
    "presence_penalty": 0.1,
    "frequency_penalty": 0.1,
    "logprobs": True,
    "top_logprobs": 2,
    "reasoning_effort": "low",
    "verbosity": "low",
    "service_tier": "flex",
    "prompt_cache_key": "contract",
    "store": True,
    "metadata": {"app": "contract"},
    "modalities": ("text",),
    "prediction": {"type": "content", "content": "hello"},
    "safety_identifier": "contract",
    "user": "contract",
}
# ...and for each field (value) the reply must obey, refused in any policy.
OBEYED_SAMPLES: dict[str, Any] = {
    "stop": ("END",),
    "web_search_options": {},
    "n": 2,
    "modalities": ("text", "audio"),
}


def client_for(
    provider: Any, config: dict[str, Any] | None = None, clock: FakeClock | None = None
) -> Client:
    """A real :class:`Client` whose default provider is ``provider`` (registered as its
    ``name`` on top of the installed plugins, in a copy of the registry), with ``clock``
    injected (a new :class:`FakeClock` by default: retries never sleep)."""
    data = dict(config or {})
    core = {"provider": provider.name, "cache": "memory", **(data.get("modelbus") or {})}
    data["modelbus"] = core
    cfg = Config.from_dict(data)
    loaded = load_plugins(cfg.modelbus.plugins.allow, cfg.modelbus.plugins.block)
    registry = loaded.registry.copy(exclude=("providers", provider.name))
    registry.add(
        Registration(
            "providers",
            provider.name,
            lambda: provider,
            description="provider under test",
            plugin="modelbus.testing",
        )
    )
    return Client(cfg, clock=(clock or FakeClock()).as_clock(), registry=registry)


def _check_reply(resp: Any) -> None:
    assert isinstance(resp, ChatResponse), f"expected a ChatResponse, got {type(resp)!r}"
    assert resp.message.role == "assistant", resp.message
    assert isinstance(resp.model, str)


def _check_chunks(chunks: list[Any]) -> ChatResponse:
    assert chunks, "the stream yielded no chunk"
    assert all(isinstance(c, ChatChunk) for c in chunks), [type(c) for c in chunks]
    assert chunks[-1].finish_reason is not None or any(c.finish_reason for c in chunks), (
        "no chunk carries a finish_reason"
    )
    acc = StreamAccumulator()
    for c in chunks:
        acc.add(c)
    resp = acc.response()
    _check_reply(resp)
    return resp


class ProviderContract(FaultPaths):
    """The contract (see the module doc)."""

    embeddings = False

    @pytest.fixture
    def provider(self) -> Any:
        raise NotImplementedError(
            "a ProviderContract subclass must provide a provider fixture (see the module doc)"
        )

    @pytest.fixture
    def model(self) -> str:
        return "test-model"

    @pytest.fixture
    def prompt(self) -> str:
        return "Say hello."

    @pytest.fixture
    def request_(self, model: str, prompt: str) -> ChatRequest:
        return ChatRequest(model=model, messages=(Message("user", prompt),))

    @pytest.fixture
    def adapted(self, provider: Any) -> AdaptedProvider:
        return adapt_provider(provider)

    @pytest.fixture
    def client(self, provider: Any) -> Iterator[Client]:
        c = client_for(provider)
        yield c
        c.close()

    # --- the object ------------------------------------------------------------------
    def test_object(self, provider: Any) -> None:
        assert isinstance(provider.name, str) and provider.name
        assert isinstance(provider, (SyncProvider, AsyncProvider)) or callable(
            getattr(provider, "chat", None) or getattr(provider, "achat", None)
        )
        caps = getattr(provider, "capabilities", None)
        assert caps is None or isinstance(caps, Capabilities)
        identity = getattr(provider, "cache_identity", None)
        assert identity is None or isinstance(identity, str)

    # --- the provider itself ---------------------------------------------------------
    def test_chat(self, adapted: AdaptedProvider, request_: ChatRequest) -> None:
        _check_reply(adapted.chat(request_))

    @pytest.mark.asyncio
    async def test_achat(self, adapted: AdaptedProvider, request_: ChatRequest) -> None:
        _check_reply(await adapted.achat(request_))

    def test_stream(self, adapted: AdaptedProvider, request_: ChatRequest) -> None:
        _check_chunks(list(adapted.stream(request_)))

    @pytest.mark.asyncio
    async def test_fresh_responses(
        self, provider: Any, adapted: AdaptedProvider, request_: ChatRequest
    ) -> None:
        """``fresh_responses`` (``SyncProvider``'s docstring), when the class declares it,
        is a bool (anything else would be read as not declared), and ``True`` means
        every answer is a new object, on both sides: the core completes them in place.
        Undeclared, the core copies answers and there is nothing more to hold."""
        declared = getattr(type(provider), "fresh_responses", False)
        assert isinstance(declared, bool), f"fresh_responses must be a bool: {declared!r}"
        answers = [adapted.chat(request_), adapted.chat(request_)]
        answers += [await adapted.achat(request_), await adapted.achat(request_)]
        for r in answers:
            _check_reply(r)
        if declared:
            assert len({id(r) for r in answers}) == len(answers)

    @pytest.mark.asyncio
    async def test_astream(self, adapted: AdaptedProvider, request_: ChatRequest) -> None:
        stream: AsyncIterator[ChatChunk] = adapted.astream(request_)
        _check_chunks([c async for c in stream])

    # --- through a client ------------------------------------------------------------
    def test_client_chat_and_cache_hit(
        self, client: Client, provider: Any, model: str, prompt: str
    ) -> None:
        first = client.chat(prompt, model=model)
        _check_reply(first)
        assert (first.provider, first.attempts, first.cached) == (provider.name, 1, False)
        again = client.chat(prompt, model=model)
        assert again.cached and again.attempts == 0
        assert again.message == first.message

    @pytest.mark.asyncio
    async def test_client_achat_and_cache_hit(
        self, client: Client, provider: Any, model: str, prompt: str
    ) -> None:
        first = await client.achat(prompt, model=model)
        _check_reply(first)
        assert (first.provider, first.cached) == (provider.name, False)
        again = await client.achat(prompt, model=model)
        assert again.cached and again.message == first.message

    def test_client_stream(self, client: Client, model: str, prompt: str) -> None:
        stream = client.stream(prompt, model=model, cache="bypass")
        text = "".join(c.content or "" for c in stream)
        assert stream.response.content == text
        _check_reply(stream.response)

    # --- request fields the provider does not honour ---------------------------------
    def test_unsupported_params_never_reach_the_provider(
        self, provider: Any, model: str, prompt: str, faults: Any
    ) -> None:
        honoured = supported_params(provider)
        if honoured is None:
            honoured = REQUEST_PARAMS
        drop = {k: v for k, v in DROPPABLE_SAMPLES.items() if k not in honoured}
        obey = {k: v for k, v in OBEYED_SAMPLES.items() if k not in honoured}
        server = getattr(faults, "server", None)  # a WireFaults: the bodies it received

        def sent() -> int:
            return len(server.requests) if server is not None else 0

        with client_for(provider, {"modelbus": {"cache": "none"}}) as c:
            _check_reply(c.chat(prompt, model=model, **drop))
            if server is not None:
                body = server.requests[-1].json
                assert not set(drop) & set(body), sorted(set(drop) & set(body))
            before = sent()
            for name, value in obey.items():
                with pytest.raises(BadRequestError, match=name):
                    c.chat(prompt, model=model, **{name: value})
        policy = {"modelbus": {"cache": "none", "unsupported_params": "error"}}
        with client_for(provider, policy) as c:
            for name, value in drop.items():
                with pytest.raises(BadRequestError) as info:
                    c.chat(prompt, model=model, **{name: value})
                assert info.value.code == "unsupported_parameter"
                assert name in str(info.value) and repr(provider.name) in str(info.value)
        assert sent() == before, "a refused request reached the server"

    # --- embeddings ------------------------------------------------------------------
    def test_embeddings(self, adapted: AdaptedProvider, model: str) -> None:
        req = EmbeddingRequest(model=model, input=("one", "two", "three"))
        if not self.embeddings:
            # No embed/aembed: the client must say so by name, not fail obscurely.
            with pytest.raises(PluginError, match=adapted.name):
                adapted.embed(req)
            return
        resp = adapted.embed(req)
        assert len(resp.vectors) == 3
        assert len({len(v) for v in resp.vectors}) == 1 and len(resp.vectors[0]) > 0
