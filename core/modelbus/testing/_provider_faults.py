"""The error paths of :class:`~modelbus.testing.contracts_provider.ProviderContract`.

Each test asks the ``faults`` fixture to make the next request fail (see
:mod:`modelbus.testing.faults`) and checks, on every side of the provider (``chat``,
``achat``, ``stream``, ``astream``):

- the provider raises the :class:`~modelbus.errors.ProviderError` subclass of the fault,
  naming the provider, with ``status_code``, ``retry_after_s``, ``should_retry`` and
  ``request_id`` as the server sent them, and retryable (the core retries ProviderErrors
  only: an HTTP library's own exception escaping would end the call at the first blip);
- a real Client (fake clock, exponential retry policy) retries it, after the server's
  ``Retry-After``, and answers from the second attempt;
- a stall is seen through the attempt timeout the provider must honour
  (``modelbus.attempt_limits``): the stalled attempt alone gets
  :data:`~modelbus.testing._stall.STALL_TIMEOUT_S` (0.25 s), so the provider keeps its
  own timeout for every other request and a loaded machine's slow answers never time
  out;
- a stream is retried after an error that follows a role-only first chunk, and not after
  one that follows content, which reaches the caller after the text.

A provider that does no network I/O returns ``None`` from ``faults``: the same tests then
check that it answers with every socket connection refused.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from .._engine.provider_adapter import AdaptedProvider
from .._retry.runner import is_retryable
from .._wire.types import ChatChunk, ChatRequest, ChatResponse
from ..errors import (
    APIConnectionError,
    APITimeoutError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from ._fake import FakeClock
from ._stall import FirstCallStalls, stall_limits
from .faults import FAULTS, FaultKind, ProviderFault

__all__ = ["FaultPaths"]

_KINDS: tuple[FaultKind, ...] = ("rate_limit", "server_error", "reset", "stall")
_CLASS: dict[FaultKind, type[ProviderError]] = {
    "rate_limit": RateLimitError,
    "server_error": ServerError,
    "reset": APIConnectionError,
    "stall": APITimeoutError,
    "error_after_role": ServerError,
    "error_after_content": ServerError,
}


@contextlib.contextmanager
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(sock: socket.socket, *args: Any, **kwargs: Any) -> Any:
        # Closed here: socket.create_connection closes a socket whose connect failed
        # only on an OSError, so this one would be left open until garbage collection.
        sock.close()
        raise AssertionError(
            "the faults fixture returned None (no network I/O), but the provider connected "
            "to a socket: supply a faults fixture (modelbus.testing.faults.WireFaults)"
        )

    with monkeypatch.context() as m:
        m.setattr(socket.socket, "connect", refuse)
        m.setattr(socket.socket, "connect_ex", refuse)
        yield


def check_error(err: BaseException, fault: ProviderFault, provider: str) -> None:
    """Assert that ``err`` is what a provider must raise for ``fault``."""
    cls = _CLASS[fault.kind]
    assert isinstance(err, cls), (
        f"{fault.kind}: expected {cls.__name__} (a modelbus ProviderError), got "
        f"{type(err).__module__}.{type(err).__name__}: {err}"
    )
    assert err.provider == provider, f"{fault.kind}: error.provider is {err.provider!r}"
    assert is_retryable(err), f"{fault.kind}: {type(err).__name__} must be retryable: {err}"
    if fault.status is not None:
        assert err.status_code == fault.status, f"{fault.kind}: status_code {err.status_code}"
    if fault.retry_after_s is not None:
        assert err.retry_after_s == fault.retry_after_s, (
            f"{fault.kind}: retry_after_s {err.retry_after_s!r}, the server sent "
            f"Retry-After: {fault.retry_after_s:g}"
        )
    if fault.should_retry is not None:
        assert err.should_retry is fault.should_retry, (
            f"{fault.kind}: should_retry {err.should_retry!r}, the server sent "
            f"x-should-retry: {str(fault.should_retry).lower()}"
        )
    if fault.kind in ("rate_limit", "server_error", "error_after_role", "error_after_content"):
        assert err.request_id == fault.request_id, (
            f"{fault.kind}: request_id {err.request_id!r}, the server sent {fault.request_id!r}"
        )


def _direct_sync(adapted: AdaptedProvider, req: ChatRequest, mode: str) -> Any:
    return adapted.chat(req) if mode == "chat" else list(adapted.stream(req))


async def _direct_async(adapted: AdaptedProvider, req: ChatRequest, mode: str) -> Any:
    if mode == "achat":
        return await adapted.achat(req)
    return [c async for c in adapted.astream(req)]


def _through_sync(client: Any, mode: str, prompt: str, model: str) -> ChatResponse:
    if mode == "chat":
        resp: ChatResponse = client.chat(prompt, model=model, cache="bypass")
        return resp
    stream = client.stream(prompt, model=model, cache="bypass")
    text = "".join(c.content or "" for c in stream)
    assert stream.response.content == text
    return stream.response  # type: ignore[no-any-return]


async def _through_async(client: Any, mode: str, prompt: str, model: str) -> ChatResponse:
    if mode == "achat":
        resp: ChatResponse = await client.achat(prompt, model=model, cache="bypass")
        return resp
    stream = client.astream(prompt, model=model, cache="bypass")
    text = "".join([c.content or "" async for c in stream])
    assert stream.response.content == text
    return stream.response  # type: ignore[no-any-return]


def _check_stream_offline(chunks: list[ChatChunk]) -> None:
    assert chunks and any(c.finish_reason for c in chunks), chunks


def _stalled(provider: Any, faults: Any, kind: FaultKind) -> Any:
    """The provider a stall test's Client gets: its first call alone under the short
    timeout (see ``_stall``); others, the provider itself."""
    if kind != "stall":
        return provider
    return FirstCallStalls(provider, getattr(faults, "served", None))


def _check_retried(
    resp: ChatResponse, fault: ProviderFault, clock: FakeClock, provider: Any
) -> None:
    # An attempt that timed out before its request reached the server (a loaded
    # machine) did not meet the fault: one attempt after the fault, whatever came before.
    early = provider.early if isinstance(provider, FirstCallStalls) else 0
    assert resp.attempts == 2 + early, (
        f"{fault.kind}: the client made {resp.attempts} attempt(s), not 2"
        + (f" after {early} that timed out before reaching the server" if early else "")
    )
    assert resp.message.role == "assistant"
    if fault.retry_after_s is not None:
        assert clock.sleeps and clock.sleeps[0] == fault.retry_after_s, (
            f"{fault.kind}: the client slept {clock.sleeps}, not the server's Retry-After"
        )


class FaultPaths:
    """The error-path tests (see the module doc); mixed into ProviderContract."""

    @pytest.fixture
    def faults(self) -> Any:
        raise NotImplementedError(
            "a ProviderContract subclass must provide a faults fixture: "
            "modelbus.testing.faults.WireFaults(server) for a provider on the WireServer "
            "(subclassed for a non-OpenAI wire format), any object with "
            "inject(ProviderFault), or None for a provider that does no network I/O"
        )

    # --- the provider raises the right error -------------------------------------------
    @pytest.mark.parametrize("mode", ["chat", "stream"])
    @pytest.mark.parametrize("kind", _KINDS)
    def test_fault_is_a_provider_error(
        self,
        adapted: AdaptedProvider,
        request_: ChatRequest,
        faults: Any,
        kind: FaultKind,
        mode: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        if faults is None:
            with _no_network(monkeypatch):
                _direct_sync(adapted, request_, mode)
            return
        fault = FAULTS[kind]
        faults.inject(fault)
        with pytest.raises(Exception) as info, stall_limits(kind == "stall"):
            _direct_sync(adapted, request_, mode)
        check_error(info.value, fault, adapted.name)

    @pytest.mark.asyncio
    @pytest.mark.parametrize("mode", ["achat", "astream"])
    @pytest.mark.parametrize("kind", _KINDS)
    async def test_fault_is_a_provider_error_async(
        self,
        adapted: AdaptedProvider,
        request_: ChatRequest,
        faults: Any,
        kind: FaultKind,
        mode: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        if faults is None:
            with _no_network(monkeypatch):
                await _direct_async(adapted, request_, mode)
            return
        fault = FAULTS[kind]
        faults.inject(fault)
        with pytest.raises(Exception) as info, stall_limits(kind == "stall"):
            await _direct_async(adapted, request_, mode)
        check_error(info.value, fault, adapted.name)

    # --- the client retries it ----------------------------------------------------------
    @pytest.mark.parametrize("mode", ["chat", "stream"])
    @pytest.mark.parametrize("kind", [*_KINDS, "error_after_role"])
    def test_fault_is_retried_by_the_client(
        self,
        provider: Any,
        faults: Any,
        kind: FaultKind,
        mode: str,
        model: str,
        prompt: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        from .contracts_provider import client_for

        clock = FakeClock()
        # A stall's attempt alone gets the short timeout, not the retry after it.
        stalled = _stalled(provider, faults, kind)
        with client_for(stalled, clock=clock) as client:
            if faults is None:
                with _no_network(monkeypatch):
                    assert _through_sync(client, mode, prompt, model).attempts == 1
                return
            fault = FAULTS[kind]
            if kind == "error_after_role" and mode == "chat":
                fault = FAULTS["server_error"]  # a role-only chunk exists in streams only
            faults.inject(fault)
            _check_retried(_through_sync(client, mode, prompt, model), fault, clock, stalled)

    @pytest.mark.asyncio
    @pytest.mark.parametrize("mode", ["achat", "astream"])
    @pytest.mark.parametrize("kind", [*_KINDS, "error_after_role"])
    async def test_fault_is_retried_by_the_client_async(
        self,
        provider: Any,
        faults: Any,
        kind: FaultKind,
        mode: str,
        model: str,
        prompt: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        from .contracts_provider import client_for

        clock = FakeClock()
        stalled = _stalled(provider, faults, kind)
        client = client_for(stalled, clock=clock)
        try:
            if faults is None:
                with _no_network(monkeypatch):
                    assert (await _through_async(client, mode, prompt, model)).attempts == 1
                return
            fault = FAULTS[kind]
            if kind == "error_after_role" and mode == "achat":
                fault = FAULTS["server_error"]
            faults.inject(fault)
            resp = await _through_async(client, mode, prompt, model)
            _check_retried(resp, fault, clock, stalled)
        finally:
            await client.aclose()

    # --- a stream is retried only before its first content ------------------------------
    def test_stream_error_after_role_is_a_provider_error(
        self,
        adapted: AdaptedProvider,
        request_: ChatRequest,
        faults: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        if faults is None:
            with _no_network(monkeypatch):
                _check_stream_offline(list(adapted.stream(request_)))
            return
        fault = FAULTS["error_after_role"]
        faults.inject(fault)
        seen: list[ChatChunk] = []
        with pytest.raises(Exception) as info:
            seen.extend(adapted.stream(request_))
        check_error(info.value, fault, adapted.name)

    def test_stream_error_after_content_is_not_retried(
        self,
        provider: Any,
        faults: Any,
        model: str,
        prompt: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        from .contracts_provider import client_for

        with client_for(provider, clock=FakeClock()) as client:
            if faults is None:
                with _no_network(monkeypatch):
                    _check_stream_offline(list(client.stream(prompt, model=model)))
                return
            fault = FAULTS["error_after_content"]
            faults.inject(fault)
            text: list[str] = []
            with pytest.raises(Exception) as info:
                for chunk in client.stream(prompt, model=model, cache="bypass"):
                    text.append(chunk.content or "")
            check_error(info.value, fault, provider.name)
            assert "".join(text) == fault.text, (
                f"the caller saw {''.join(text)!r} before the error, not {fault.text!r} once"
            )

    @pytest.mark.asyncio
    async def test_astream_error_after_content_is_not_retried(
        self,
        provider: Any,
        faults: Any,
        model: str,
        prompt: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        from .contracts_provider import client_for

        client = client_for(provider, clock=FakeClock())
        try:
            if faults is None:
                with _no_network(monkeypatch):
                    _check_stream_offline([c async for c in client.astream(prompt, model=model)])
                return
            fault = FAULTS["error_after_content"]
            faults.inject(fault)
            text: list[str] = []
            with pytest.raises(Exception) as info:
                async for chunk in client.astream(prompt, model=model, cache="bypass"):
                    text.append(chunk.content or "")
            check_error(info.value, fault, provider.name)
            assert "".join(text) == fault.text
        finally:
            await client.aclose()
