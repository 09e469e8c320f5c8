"""modelbus-azure: the ``azure`` provider (Azure OpenAI), built on modelbus-openai.

Importing this package imports neither the ``openai`` SDK nor azure-identity; names
below load on first use (PEP 562).

- :class:`AzureOpenAIProvider` / :class:`AzureSettings` — the provider and its settings.
- :func:`entra_token_provider` — a Microsoft Entra ID bearer-token callable
  (azure-identity, extra ``modelbus-azure[entra]``).
- :func:`content_filter` → :class:`ContentFilterResults` — the filter verdicts of a
  response.

Content filtering: ``content_filter(response)`` reads the ``prompt_filter_results`` and
the answer's ``content_filter_results`` that Azure sends (kept in ``response.extra``
under those names); a prompt blocked by the filter raises
:class:`modelbus.errors.ContentFilterError` (``categories``: category →
``{"filtered", "severity"}``); an answer cut by the filter has
``finish_reason == "content_filter"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelbus.plugin import lazy_exports

__all__ = [
    "AzureOpenAIProvider",
    "AzureSettings",
    "ContentFilterResults",
    "content_filter",
    "entra_token_provider",
]

_LAZY = {
    "AzureOpenAIProvider": "._provider",
    "AzureSettings": "._settings",
    "ContentFilterResults": "._content_filter",
    "content_filter": "._content_filter",
    "entra_token_provider": "._provider",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


if TYPE_CHECKING:
    from ._content_filter import ContentFilterResults as ContentFilterResults
    from ._content_filter import content_filter as content_filter
    from ._provider import AzureOpenAIProvider as AzureOpenAIProvider
    from ._provider import entra_token_provider as entra_token_provider
    from ._settings import AzureSettings as AzureSettings
