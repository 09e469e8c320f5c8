"""modelbus-openai: the ``openai`` provider and the OpenAI-compatible building blocks that
the ``azure`` and ``local`` providers reuse.

Importing this package does not import the ``openai`` SDK; names below load on first use
(PEP 562), and the SDK is imported when a provider is built.

- :class:`OpenAIProvider` / :class:`OpenAISettings` — the ``openai`` provider.
- :class:`OpenAICompatibleProvider` — the base class (base URL, key, headers, timeouts).
- :func:`map_openai_error`, :func:`error_from_body` — SDK exceptions / error bodies →
  :mod:`modelbus.errors`.
- :func:`iter_chunks`, :func:`aiter_chunks` — an SSE chat stream → ``ChatChunk``.
- :func:`image_part` — an image URL or local file → ``ImagePart`` for vision input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelbus.plugin import lazy_exports

__all__ = [
    "OpenAICompatibleProvider",
    "OpenAIProvider",
    "OpenAISettings",
    "aiter_chunks",
    "error_from_body",
    "image_part",
    "iter_chunks",
    "map_openai_error",
]

_LAZY = {
    "OpenAICompatibleProvider": "._provider",
    "OpenAIProvider": "._openai_provider",
    "OpenAISettings": "._settings",
    "aiter_chunks": "._sse",
    "error_from_body": "._errors",
    "image_part": "._vision",
    "iter_chunks": "._sse",
    "map_openai_error": "._errors",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


if TYPE_CHECKING:
    from ._errors import error_from_body as error_from_body
    from ._errors import map_openai_error as map_openai_error
    from ._openai_provider import OpenAIProvider as OpenAIProvider
    from ._provider import OpenAICompatibleProvider as OpenAICompatibleProvider
    from ._settings import OpenAISettings as OpenAISettings
    from ._sse import aiter_chunks as aiter_chunks
    from ._sse import iter_chunks as iter_chunks
    from ._vision import image_part as image_part
