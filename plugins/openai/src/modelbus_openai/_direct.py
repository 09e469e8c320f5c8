"""The sync fast path: JSON POSTs and streams straight over ``httpx2``, without the SDK.

Through the SDK every call validates its options into pydantic models, merges headers and
builds the request (about 0.3 ms a call, and 0.3 s at 1,000 messages, where it walks the
body); the first call of a process also imports ``openai`` and ``pydantic`` (~0.9 s).
:class:`DirectPoster` sends what the SDK sends — the headers of ``_headers`` (auth,
User-Agent, ``X-Stainless-*``, organization/project, default headers, the per-request
retry count and read timeout), the body serialized as the SDK serializes it, the same URL,
the SDK's connection limits, redirects not followed — on an ``httpx2.Client`` of its own.
Failures become the errors the SDK path gives (:func:`~modelbus_openai.map_openai_error`).

Only providers whose SDK clients are the plain ``openai.OpenAI`` / ``AsyncOpenAI`` use it
(``OpenAICompatibleProvider.direct``); a subclass that makes its own clients keeps the
SDK path. The azure plugin computes its own URLs and headers (``modelbus_azure._direct``)
and sends them on these posters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from modelbus.errors import APIConnectionError, APITimeoutError, ProviderError

from ._aio import AioReply, dumps_body, status_error
from ._limits import BodyReader

__all__ = ["CONNECTION_LIMITS", "DirectPoster", "dumps_body", "transport_error"]

#: ``openai._constants.DEFAULT_CONNECTION_LIMITS`` (max connections, keep-alive
#: connections, keep-alive expiry in seconds); a test pins them to the SDK's.
CONNECTION_LIMITS = (1000, 100, 5.0)


def transport_error(exc: BaseException, provider: str) -> ProviderError:
    """The error for an ``httpx2`` exception raised while sending or reading: a timeout
    → :class:`APITimeoutError`, anything else → :class:`APIConnectionError`."""
    import httpx2

    if isinstance(exc, httpx2.TimeoutException):
        return APITimeoutError(
            f"no response within the timeout ({type(exc).__name__}: {exc})", provider=provider
        )
    return APIConnectionError(f"connection failed ({type(exc).__name__}: {exc})", provider=provider)


@attrs.define
class DirectPoster:
    """Requests to ``base_url`` (ending in ``/``) + path on ``client`` (an
    ``httpx2.Client``) with ``headers``; see the module docstring. Raises
    :class:`~modelbus.errors.ProviderError` subclasses."""

    client: Any
    base_url: str
    headers: dict[str, str]
    provider: str

    @classmethod
    def make(
        cls, base_url: str, headers: dict[str, str], timeout: Any, provider: str
    ) -> DirectPoster:
        """A poster on a new ``httpx2.Client`` with the SDK's limits and ``timeout``."""
        import httpx2

        conns, keepalive, expiry = CONNECTION_LIMITS
        limits = httpx2.Limits(
            max_connections=conns, max_keepalive_connections=keepalive, keepalive_expiry=expiry
        )
        base = base_url if base_url.endswith("/") else base_url + "/"
        client = httpx2.Client(
            timeout=timeout, limits=limits, follow_redirects=False, verify=_tls(base)
        )
        # Lower-cased as the SDK sends them (it passes httpx2.Headers(...).multi_items()).
        lowered = {k.lower(): v for k, v in headers.items()}
        return cls(client=client, base_url=base, headers=lowered, provider=provider)

    def _headers(self, timeout: Any) -> dict[str, str]:
        # Per request, as the SDK's _build_headers adds them.
        h = {**self.headers, "x-stainless-retry-count": "0"}
        if timeout.read is not None:
            h["x-stainless-read-timeout"] = str(timeout.read)
        return h

    def open(self, method: str, path: str, body: Mapping[str, Any] | None, timeout: Any) -> Any:
        """Send the request and return the streamed ``httpx2.Response`` when it is a 2xx
        (the caller reads and closes it); read and raise the error of any other status."""
        url = path if "://" in path else self.base_url + path.lstrip("/")
        headers = self._headers(timeout)
        content = None
        if body is not None:
            content = dumps_body(body)
        else:
            headers.pop("content-type", None)
        try:
            req = self.client.build_request(
                method, url, content=content, headers=headers, timeout=timeout
            )
            raw = self.client.send(req, stream=True, follow_redirects=False)
        except Exception as exc:
            if _is_transport_error(exc):
                raise transport_error(exc, self.provider) from exc
            raise
        if 200 <= raw.status_code < 300:
            return raw
        try:
            content_read = raw.read()
        except Exception as exc:
            if _is_transport_error(exc):
                raise transport_error(exc, self.provider) from exc
            raise
        finally:
            raw.close()
        raise status_error(self.provider, raw.status_code, raw.headers, content_read)

    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        *,
        timeout: Any,
        ends_at: float | None,
        max_bytes: int,
    ) -> AioReply:
        """Send and read the whole answer (refused past ``max_bytes``, or once
        ``ends_at``, ``time.monotonic()``, is past); a 2xx comes back, anything else
        raises as the SDK path would."""
        raw = self.open(method, path, body, timeout)
        reader = BodyReader(self.provider, max_bytes, ends_at)
        try:
            reader.start(raw.status_code, raw.headers)
            for piece in raw.iter_bytes():
                reader.add(piece, raw.status_code, raw.headers)
        except Exception as exc:
            if _is_transport_error(exc):
                raise transport_error(exc, self.provider) from exc
            raise
        finally:
            raw.close()
        return AioReply(raw.status_code, raw.headers, reader.content())

    def close(self) -> None:
        self.client.close()


def _tls(base_url: str) -> Any:
    """What ``httpx2.Client(verify=...)`` gets: the default (the CA bundle, which takes
    tens of ms to load, hundreds on a busy machine) for an https endpoint; for a plain
    http one, which never makes a TLS connection (redirects are not followed), a context
    that verifies and trusts no CA, made in microseconds: were a TLS connection ever made,
    it would fail rather than go unverified."""
    if base_url.startswith("https:"):
        return True
    import ssl

    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _is_transport_error(exc: BaseException) -> bool:
    import httpx2

    return isinstance(exc, (httpx2.TimeoutException, httpx2.RequestError))
