"""The async fast path: JSON POSTs straight over aiohttp, for a plain ``openai.AsyncOpenAI``.

Through the SDK, every async call builds its option models, merges headers, makes an
httpx2 Request, turns it into an aiohttp request (the SDK's vendored ``httpx_aiohttp``
transport) and the answer back into an httpx2 Response: about 0.5 ms of CPU per call on
the 2-core benchmark machine, three times what aiohttp itself costs, so at concurrency
100 the client, not the server, sets the pace (``benchmarks``, row ``async``).

:class:`AioPoster` sends what the SDK would send — the SDK client's own headers (auth,
User-Agent, ``X-Stainless-*``, organization/project, default headers), computed once;
the same URL; the SDK's timeouts (connect, read, pool) and connection limit; the proxy
and CA bundle from the environment — on an aiohttp session of its own, one per event
loop. Failures become the errors :func:`~modelbus_openai.map_openai_error` gives for the
SDK's exceptions. Only clients whose headers cannot change between calls qualify
(:func:`poster_for`): a custom auth or an API-key provider keeps the SDK path. The azure
plugin builds its posters itself, one per request when an Entra ID token is asked for
per request, sharing the loop's session.
"""

from __future__ import annotations

import json
from collections.abc import Coroutine, Mapping
from typing import Any

import attrs
import orjson

from modelbus.errors import APIConnectionError, APITimeoutError, ProviderError
from modelbus.plugin import close_with_loop

from ._errors import decode_body, error_from_body
from ._limits import DEFAULT_MAX_RESPONSE_BYTES, BodyReader, check_declared, check_read

__all__ = [
    "AioPoster",
    "AioReply",
    "aio_poster",
    "aiohttp_error",
    "client_timeout",
    "dumps_body",
    "poster_for",
    "status_error",
    "transport_errors",
]


@attrs.define
class AioReply:
    """A read response: what ``OpenAICompatibleProvider._decode`` reads. Not frozen
    (nothing changes it): a frozen class's ``__init__`` costs three times as much, on
    every request."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes


def _merge_headers(*mappings: Mapping[str, Any]) -> dict[str, str]:
    """Case-insensitive merge, later wins; a non-str value (the SDK's ``omit``) removes
    the header, as the SDK's own ``_merge_headers`` does."""
    merged: dict[str, tuple[str, str]] = {}
    for mapping in mappings:
        for name, value in mapping.items():
            if isinstance(value, str):
                merged[name.lower()] = (name, value)
            else:
                merged.pop(name.lower(), None)
    return dict(merged.values())


def poster_for(
    sdk: Any, *, provider: str, timeout: Any, extra_headers: Mapping[str, Any]
) -> AioPoster | None:
    """An :class:`AioPoster` equivalent to the SDK client ``sdk`` (call it inside the event
    loop that will use it), or ``None`` when ``sdk`` must keep its own path: not exactly
    ``openai.AsyncOpenAI``, custom auth (workload identity, provider runtimes), an API-key
    provider (refreshed per call) or default query parameters.

    ``timeout`` is the provider's ``httpx2.Timeout``; ``extra_headers`` the per-request
    headers the provider passes (``{"Authorization": omit}`` for servers without a key).
    """
    import openai

    if type(sdk) is not openai.AsyncOpenAI:
        return None
    if sdk.custom_auth is not None or getattr(sdk, "_api_key_provider", None) is not None:
        return None
    if sdk.default_query:
        return None
    headers = _merge_headers(sdk.auth_headers, sdk.default_headers, extra_headers)
    return aio_poster(str(sdk.base_url), headers, timeout, provider)


def aio_poster(base_url: str, headers: dict[str, str], timeout: Any, provider: str) -> AioPoster:
    """An :class:`AioPoster` on a new aiohttp session (call it inside the event loop that
    will use it): the SDK's connection limits (``_direct.CONNECTION_LIMITS``), the CA
    bundle for https, the proxy from the environment, ``timeout`` (an
    ``httpx2.Timeout``) as the session's."""
    import aiohttp
    import httpx2
    from aiohttp.helpers import get_env_proxy_for_url
    from yarl import URL

    from ._direct import CONNECTION_LIMITS

    base = base_url if base_url.endswith("/") else base_url + "/"
    # The CA bundle is loaded only for https (tens of ms), as the SDK's transport does.
    ssl: Any = httpx2.create_ssl_context(trust_env=True) if base.startswith("https:") else True
    conns, _, expiry = CONNECTION_LIMITS
    connector = aiohttp.TCPConnector(limit=conns, keepalive_timeout=expiry, ssl=ssl)
    # The proxy from the environment (HTTP(S)_PROXY, NO_PROXY), looked up once as httpx
    # does when the SDK client is made: aiohttp's trust_env would parse the environment
    # on every request (about 0.2 ms each).
    try:
        proxy, proxy_auth = get_env_proxy_for_url(URL(base))
    except LookupError:
        proxy, proxy_auth = None, None
    session = aiohttp.ClientSession(
        connector=connector,
        # The session's defaults: aiohttp copies them per request in one C call, where
        # headers given per request are merged into them in a Python loop (~3 µs for the
        # SDK's dozen). A poster sharing this session with other headers (the azure
        # plugin's) sends its own per request: they are a superset of these, so the merge
        # gives exactly them.
        headers=headers,
        proxy=proxy,
        proxy_auth=proxy_auth,
        timeout=aiohttp.ClientTimeout(
            sock_connect=timeout.connect, sock_read=timeout.read, connect=timeout.pool
        ),
    )
    poster = AioPoster(
        session=session,
        base_url=base,
        headers=headers,
        provider=provider,
        on_session=True,
        timeout=timeout,
    )
    # Closed as the loop shuts down (asyncio.run), while it still can: without it, a
    # client used under asyncio.run and closed afterwards (``asyncio.run(client.achat(
    # ...))``, then ``client.close()``) left the session of a closed loop open, its
    # sockets until garbage collection, and aiohttp printed "Unclosed client session".
    # Closing the poster first is harmless: a closed session closes again as a no-op.
    poster._closer = close_with_loop(poster.close)
    return poster


@attrs.define
class AioPoster:
    """POSTs JSON to ``base_url`` + path on ``session`` with ``headers``; see the module
    docstring. Raises :class:`~modelbus.errors.ProviderError` subclasses."""

    session: Any
    base_url: str
    headers: dict[str, str]
    provider: str
    #: ``headers`` are the session's default headers (``aio_poster``): none per request.
    on_session: bool = False
    #: The ``httpx2.Timeout`` of a request sent without one (the provider's).
    timeout: Any = None
    # ``headers`` as the multidict aiohttp would otherwise build from the dict on every
    # request, for a poster whose headers are not its session's (``on_session``).
    _wire_headers: Any = attrs.field(default=None, init=False, repr=False)
    # path -> URL: the same few paths on every request, joined once.
    _urls: dict[str, str] = attrs.field(factory=dict, init=False, repr=False)
    # What closes the session at loop shutdown (``close_with_loop``): kept alive here.
    _closer: Any = attrs.field(default=None, init=False, repr=False)

    def wire_headers(self) -> Any:
        """``headers`` as a ``multidict.CIMultiDict`` (built once, in order); ``None``
        when they are the session's defaults (``on_session``)."""
        if self.on_session:
            return None
        h = self._wire_headers
        if h is None:
            from multidict import CIMultiDict

            h = self._wire_headers = CIMultiDict(self.headers)
        return h

    def post(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        timeout: Any = None,
        ends_at: float | None = None,
        max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> Coroutine[Any, Any, AioReply]:
        """``POST`` ``body`` to ``path`` (relative to the base URL, or absolute) and read
        the whole answer; a 2xx comes back, anything else raises as the SDK path would.

        ``timeout`` (an ``httpx2.Timeout``; ``None``: the poster's, else the session's;
        see :func:`client_timeout`) and ``ends_at``
        (``time.monotonic()`` when the attempt's time is up) bound the exchange; the body
        is read in pieces and refused past ``max_bytes``. Redirects are not followed
        (as on every path, see ``OpenAICompatibleProvider._request_options``).

        ``body`` is serialized here, before the exchange (see :meth:`send`)."""
        return self.send(path, dumps_body(body), timeout, ends_at, max_bytes)

    async def send(
        self,
        path: str,
        data: bytes,
        timeout: Any = None,
        ends_at: float | None = None,
        max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> AioReply:
        """:meth:`post` of an already serialized body (``data``, JSON bytes).

        The callers on the chat path serialize the body before awaiting this, so the
        body's dicts are freed before the request is sent rather than kept alive while
        it is in flight: at concurrency 100 every object alive during the wait is walked
        by the young collections and promoted, and a full collection then walks it
        again (``benchmarks``, row ``async``)."""
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = path if "://" in path else self.base_url + path.lstrip("/")
        provider = self.provider
        if timeout is None:
            timeout = self.timeout
        # a whole answer: the read timeout bounds the whole exchange (client_timeout)
        wait = self.session.timeout if timeout is None else client_timeout(timeout, whole=True)
        try:
            async with self.session.post(
                url,
                data=data,
                headers=self.wire_headers(),
                allow_redirects=False,
                timeout=wait,
            ) as r:
                status, headers = r.status, r.headers
                declared = headers.get("Content-Length")
                if declared is not None:
                    # Declared and under the cap: aiohttp reads exactly that many bytes,
                    # in one call rather than a loop over pieces (decoded, so a compressed
                    # body is checked again once read).
                    check_declared(provider, max_bytes, status, headers, declared)
                    content = await r.read()
                    check_read(provider, len(content), max_bytes, ends_at, status, headers)
                else:
                    reader = BodyReader(provider, max_bytes, ends_at)
                    async for piece in r.content.iter_any():
                        reader.add(piece, status, headers)
                    content = reader.content()
        except transport_errors() as exc:  # (evaluated only when something is raised)
            raise aiohttp_error(exc, provider) from exc
        if not 200 <= status < 300:
            raise status_error(provider, status, headers, content)
        return AioReply(status, headers, content)

    async def open_stream(self, path: str, body: Mapping[str, Any], *, timeout: Any) -> Any:
        """``POST`` ``body`` to ``path`` and return the streamed answer when it is a 2xx
        (an :class:`~modelbus_openai._aio_stream.AioStream`, what ``_sse.aiter_chunks``
        reads); read and raise the error of any other status."""
        from ._aio_stream import open_stream

        url = path if "://" in path else self.base_url + path.lstrip("/")
        return await open_stream(self, url, dumps_body(body), timeout)

    async def close(self) -> None:
        await self.session.close()


# What ``json.dumps`` builds on every call with these arguments, built once (a quarter of
# the serialization's CPU on a chat body); ``encode`` keeps no state between calls.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dumps_body(body: Mapping[str, Any]) -> bytes:
    """``body`` as the SDK serializes it (``openai._utils._json.openapi_dumps``: the
    arguments of httpx's JSON bodies, UTF-8 bytes), written by ``orjson``: a tenth of
    the standard encoder's CPU on a chat body (0.3 against 4 µs), on every call.

    orjson writes the same bytes as the SDK's encoder (compact separators, UTF-8, the
    same escapes, keys in order) but for a float's exponent (``1e-5`` where Python
    writes ``1e-05``: the same JSON number). What it cannot write the same way goes to
    the standard encoder, so the result or the error is the SDK's: a body it refuses
    (ints past 64 bits, non-str keys, unknown types, lone surrogates: ``TypeError``) and
    a body with a ``null`` in it, since orjson writes NaN and infinities as ``null``
    where the SDK raises ``ValueError`` (a body with a real ``null``, such as a
    tool-calling message's ``content``, costs the standard encoder's time).

    The bytes handed back are a copy (0.2 µs): orjson writes into a 1 KiB buffer that it
    then shrinks in place (``realloc``), and a thousand such blocks kept alive while
    their requests are in flight left the heap slower for every allocation: the
    client's CPU per request at concurrency 1,000 was about 5 % higher than with the
    copy (``benchmarks``, row ``async``; interleaved runs, 2026-12-04)."""
    try:
        data = orjson.dumps(body)
    except TypeError:  # orjson.JSONEncodeError is one
        pass
    else:
        if b"null" not in data:
            return memoryview(data).tobytes()
    return _ENCODER.encode(body).encode()


# (id(timeout), whole) → (timeout, ClientTimeout): the fixed timeouts of
# ``_limits.request_timeout`` come back as the same object on every call, so they are
# converted once.
_CLIENT_TIMEOUTS: dict[tuple[int, bool], tuple[Any, Any]] = {}


def client_timeout(timeout: Any, whole: bool = False) -> Any:
    """An ``httpx2.Timeout`` as an ``aiohttp.ClientTimeout``: connect and pool as they
    are; its read timeout bounds each read (a stream's), or with ``whole`` (a whole
    answer) the whole exchange, aiohttp's ``total`` (connect, send, wait and read the
    body). The latter is what the provider's ``timeout_s`` and an attempt's time promise
    (``_limits``), so a server trickling its body cannot stretch it, and aiohttp arms
    one timer per request instead of one per read."""
    key = (id(timeout), whole)
    known = _CLIENT_TIMEOUTS.get(key)
    if known is not None and known[0] is timeout:
        return known[1]
    import aiohttp

    read = {"total": timeout.read} if whole else {"sock_read": timeout.read}
    converted = aiohttp.ClientTimeout(sock_connect=timeout.connect, connect=timeout.pool, **read)
    if len(_CLIENT_TIMEOUTS) >= 256:
        _CLIENT_TIMEOUTS.clear()
    _CLIENT_TIMEOUTS[key] = (timeout, converted)  # the reference keeps the id
    return converted


_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = ()


def transport_errors() -> tuple[type[BaseException], ...]:
    """What aiohttp raises while sending or reading (``TimeoutError``,
    ``aiohttp.ClientError``, ``OSError``), imported once rather than on every request."""
    global _TRANSPORT_ERRORS
    if not _TRANSPORT_ERRORS:
        import aiohttp

        _TRANSPORT_ERRORS = (TimeoutError, aiohttp.ClientError, OSError)
    return _TRANSPORT_ERRORS


def aiohttp_error(exc: BaseException, provider: str) -> ProviderError:
    """The error for an exception aiohttp raised while sending or reading: a timeout →
    :class:`APITimeoutError`, a body cut short or any other client/socket error →
    :class:`APIConnectionError`."""
    import aiohttp

    if isinstance(exc, (TimeoutError, aiohttp.ServerTimeoutError)):
        return APITimeoutError(
            f"no response within the timeout ({type(exc).__name__}: {exc})", provider=provider
        )
    if isinstance(exc, aiohttp.ClientPayloadError):
        return APIConnectionError(
            f"connection failed while reading the response: {type(exc).__name__}: {exc}",
            provider=provider,
        )
    return APIConnectionError(f"connection failed ({type(exc).__name__}: {exc})", provider=provider)


def status_error(
    provider: str, status: int, headers: Mapping[str, str], content: bytes
) -> ProviderError:
    """The error of a non-2xx answer, as the SDK path raises it."""
    # The SDK's message when the body names none: "Error code: 502"
    # (openai._base_client.BaseClient._make_status_error_from_response).
    return error_from_body(
        provider=provider,
        status=status,
        headers=headers,
        body=decode_body(content),
        message=f"Error code: {status}",
    )
