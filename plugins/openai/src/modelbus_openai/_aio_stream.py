"""Async streams straight over aiohttp (the direct path of ``OpenAICompatibleProvider``).

:func:`open_stream` sends the request as ``AioPoster.post`` does and hands back an
:class:`AioStream`: the few things ``_sse.aiter_chunks`` reads of a streamed answer
(``headers``, ``aiter_bytes()``, ``drain()``, ``aclose()``), with aiohttp's failures
while reading raised as the errors of the SDK path (``_aio.aiohttp_error``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from ._aio import aiohttp_error, client_timeout, status_error, transport_errors

if TYPE_CHECKING:
    from ._aio import AioPoster

__all__ = ["DRAIN_S", "AioStream", "open_stream"]

#: How long reading the rest of a finished stream may take (the SDK's cleanup waits as
#: long): enough for the chunked terminator, which returns the connection to the pool.
DRAIN_S = 0.1


class AioStream:
    """A 2xx streamed answer on aiohttp; see the module docstring."""

    def __init__(self, response: Any, provider: str) -> None:
        self._r = response
        self.provider = provider
        self.status_code: int = response.status
        self.headers: Mapping[str, str] = response.headers

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body as it arrives; raises APITimeoutError / APIConnectionError."""
        it = self._r.content.iter_any()
        while True:
            try:
                piece = await it.__anext__()
            except StopAsyncIteration:
                return
            except transport_errors() as exc:
                raise aiohttp_error(exc, self.provider) from exc
            yield piece

    async def drain(self) -> None:
        """Read what is left (at most :data:`DRAIN_S`), never raising: the answer is
        complete, this only lets the connection be reused."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._r.read(), DRAIN_S)

    async def aclose(self) -> None:
        self._r.release()


async def open_stream(poster: AioPoster, url: str, data: bytes, timeout: Any) -> AioStream:
    """``POST`` ``data`` to ``url`` on ``poster``'s session; see the module docstring."""
    kw: dict[str, Any] = {} if timeout is None else {"timeout": client_timeout(timeout)}
    try:
        r = await poster.session.post(
            url, data=data, headers=poster.wire_headers(), allow_redirects=False, **kw
        )
    except transport_errors() as exc:
        raise aiohttp_error(exc, poster.provider) from exc
    if 200 <= r.status < 300:
        return AioStream(r, poster.provider)
    try:
        content = await r.read()
    except transport_errors() as exc:
        raise aiohttp_error(exc, poster.provider) from exc
    finally:
        r.release()
    raise status_error(poster.provider, r.status, r.headers, content)
