"""The headers the openai SDK sends, computed without importing it.

The chat path goes straight to the HTTP client (``_direct``) so that a process that only
chats never imports ``openai`` and ``pydantic`` (about 0.9 s of a fresh process's first
call) and no call pays the SDK's per-request option models. It sends what the SDK would:
the same headers, in the same order, from the same rules — ``openai._base_client``
(``BaseClient.default_headers``, ``platform_headers``, ``get_platform``,
``get_architecture``, ``_merge_headers``, ``_build_headers``) and ``openai._client``
(``OpenAI.default_headers``, ``auth_headers``). ``tests/plugins/openai/test_direct.py``
compares them with what the SDK itself sends, so an SDK release that changes them fails
there.
"""

from __future__ import annotations

import functools
import platform
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["OMIT", "merge_headers", "platform_headers", "sdk_headers", "sdk_version"]

#: Marks a header to remove in :func:`merge_headers` (the SDK's ``openai.omit``).
OMIT: Any = object()


@functools.cache
def sdk_version() -> str:
    """The installed ``openai`` version (from its metadata: the package is not imported)."""
    from importlib import metadata

    return metadata.version("openai")


def _platform() -> str:
    try:
        system = platform.system().lower()
        name = platform.platform().lower()
    except Exception:
        return "Unknown"
    if "iphone" in name or "ipad" in name:
        return "iOS"
    if system == "darwin":
        return "MacOS"
    if system == "windows":
        return "Windows"
    if "android" in name:
        return "Android"
    if system in ("freebsd", "openbsd"):
        return {"freebsd": "FreeBSD", "openbsd": "OpenBSD"}[system]
    if system == "linux":
        try:
            distro = platform.freedesktop_os_release().get("ID", "").lower()
        except OSError:
            distro = ""
        return {"freebsd": "FreeBSD", "openbsd": "OpenBSD"}.get(distro, "Linux")
    return f"Other:{name}" if name else "Unknown"


def _arch() -> str:
    try:
        machine = platform.machine().lower()
    except Exception:
        return "unknown"
    if machine in ("arm64", "aarch64"):
        return "arm64"
    if machine == "arm":
        return "arm"
    if machine == "x86_64":
        return "x64"
    if sys.maxsize <= 2**32:
        return "x32"
    return f"other:{machine}" if machine else "unknown"


@functools.cache
def platform_headers() -> dict[str, str]:
    """``X-Stainless-*`` headers describing the SDK and the platform (computed once)."""
    return {
        "X-Stainless-Lang": "python",
        "X-Stainless-Package-Version": sdk_version(),
        "X-Stainless-OS": _platform(),
        "X-Stainless-Arch": _arch(),
        "X-Stainless-Runtime": platform.python_implementation(),
        "X-Stainless-Runtime-Version": platform.python_version(),
    }


def merge_headers(*mappings: Mapping[str, Any]) -> dict[str, str]:
    """Case-insensitive merge, later wins; a non-str value (:data:`OMIT`, the SDK's
    ``omit``) removes the header, as the SDK's ``_merge_headers`` does."""
    merged: dict[str, tuple[str, str]] = {}
    for mapping in mappings:
        for name, value in mapping.items():
            if isinstance(value, str):
                merged[name.lower()] = (name, value)
            else:
                merged.pop(name.lower(), None)
    return dict(merged.values())


def sdk_headers(
    *,
    api_key: str | None,
    organization: str | None,
    project: str | None,
    default_headers: Mapping[str, str],
    is_async: bool,
) -> dict[str, str]:
    """The headers ``openai.OpenAI`` (``AsyncOpenAI`` when ``is_async``) sends on every
    request of a client made as ``OpenAICompatibleProvider`` makes it. ``api_key=None``
    sends no ``Authorization`` (servers that need no key). Per-request headers
    (``x-stainless-retry-count``, ``x-stainless-read-timeout``) are the caller's."""
    custom: dict[str, Any] = {
        "OpenAI-Organization": organization or OMIT,
        "OpenAI-Project": project or OMIT,
        **default_headers,
    }
    base = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "User-Agent": f"{'AsyncOpenAI' if is_async else 'OpenAI'}/Python {sdk_version()}",
        **platform_headers(),
        **custom,
    }
    client = {
        **base,
        "X-Stainless-Async": "async:asyncio" if is_async else "false",
        "OpenAI-Organization": organization if organization is not None else OMIT,
        "OpenAI-Project": project if project is not None else OMIT,
        **custom,
    }
    auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return merge_headers(auth, client, {} if api_key else {"Authorization": OMIT})
