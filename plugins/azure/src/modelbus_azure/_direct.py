"""What ``openai.AzureOpenAI`` / ``AsyncAzureOpenAI`` put on the wire, computed without
importing the SDK, for the direct paths of modelbus-openai (``_direct``, ``_aio``).

Through the SDK an Azure chat imports ``openai`` and ``pydantic`` (about 0.9 s of a
fresh process's first call) and pays the SDK's per-request option models. The direct
paths send the same request: the URL of ``openai.lib.azure.BaseAzureClient._build_request``
(``{endpoint}/openai/deployments/{model}/chat/completions?api-version=...``), the headers
of ``AzureOpenAI`` in the SDK's order (``_auth_headers``, ``default_headers``, then the
per-request ``_prepare_options`` and ``_build_headers`` additions), the body serialized
as the SDK serializes it. ``tests/plugins/azure/test_direct.py`` compares every byte with
what the SDK sends, so an SDK release that changes them fails there.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from modelbus.errors import ConfigError
from modelbus_openai._headers import merge_headers, sdk_headers, sdk_version

__all__ = ["DEPLOYMENT_PATHS", "azure_headers", "per_request_headers", "route"]

#: The paths the SDK sends under ``/deployments/{model}`` when the body names a model
#: (``openai.lib.azure._deployments_endpoints``, the ones modelbus sends).
DEPLOYMENT_PATHS = frozenset({"/chat/completions", "/embeddings"})


def azure_headers(
    *,
    api_key: str | None,
    ad_token: str | None,
    default_headers: Mapping[str, str],
    is_async: bool,
) -> dict[str, str]:
    """The headers (names lower-cased, as sent) ``AzureOpenAI`` (``AsyncAzureOpenAI``
    when ``is_async``) sends on every request of a client made as the ``azure`` provider
    makes it: ``api-key`` first with a key, ``authorization: Bearer`` first with a fixed
    token, neither with a token provider (its header is per request:
    :func:`per_request_headers`). No ``OpenAI-Organization`` / ``OpenAI-Project``."""
    agent = f"{'AsyncAzureOpenAI' if is_async else 'AzureOpenAI'}/Python {sdk_version()}"
    # The OpenAI client's layering (``_headers.sdk_headers``) with the Azure client's
    # User-Agent (its class name) and without OpenAI's bearer key; a user-agent in
    # default_headers still wins, as in the SDK.
    common = sdk_headers(
        api_key=None,
        organization=None,
        project=None,
        default_headers={"User-Agent": agent, **default_headers},
        is_async=is_async,
    )
    if api_key is not None:
        # _auth_headers puts it first; _prepare_options sets it again per request, so
        # it wins over an api-key in default_headers.
        auth = {"api-key": api_key}
    elif ad_token is not None:
        auth = {"Authorization": f"Bearer {ad_token}"}
    else:
        auth = {}
    merged = merge_headers(auth, common, auth)
    return {k.lower(): v for k, v in merged.items()}


def per_request_headers(
    base: Mapping[str, str], token: str | None, timeout: Any, sdk_extras: bool
) -> dict[str, str]:
    """``base`` plus what the SDK adds to each request: ``authorization`` from a token
    provider (``_prepare_options``, after the default headers), and when ``sdk_extras``
    ``x-stainless-retry-count`` (always ``0``: retrying is modelbus's) and
    ``x-stainless-read-timeout`` (seconds, from ``timeout``, an ``httpx2.Timeout``) as
    ``_build_headers`` does. The sync ``DirectPoster`` adds those two itself."""
    h = dict(base)
    if token is not None:
        h["authorization"] = f"Bearer {token}"
    if sdk_extras:
        h["x-stainless-retry-count"] = "0"
        if timeout.read is not None:
            h["x-stainless-read-timeout"] = str(timeout.read)
    return h


@functools.lru_cache(maxsize=512)
def route(path: str, model: str | None, api_version: str) -> str:
    """The request target relative to ``{endpoint}/openai/``: ``path`` under
    ``deployments/{model}`` for :data:`DEPLOYMENT_PATHS` when the body names a model
    (the deployment, percent-encoded as one path segment as the SDK's ``path_template``
    does), then ``?api-version=``.

    Raises :class:`ConfigError` for a deployment named ``.`` or ``..`` (the SDK refuses a
    dot segment too: it would address another path)."""
    if path in DEPLOYMENT_PATHS and model is not None:
        segment = quote(model, safe="!$&'()*+,;=:@")
        if segment in (".", ".."):  # "%2e" is quoted to "%252e": only these remain
            raise ConfigError(
                f"{model!r} cannot be an Azure deployment name (a dot segment)",
                key="providers.azure.deployments",
            )
        path = f"/deployments/{segment}{path}"
    return f"{path.lstrip('/')}?api-version={quote(api_version, safe='')}"
