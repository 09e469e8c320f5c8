"""Azure OpenAI content filtering results, read from a response's ``extra``.

Azure adds to every chat completion (Microsoft Learn, "Content filtering" → "Response
annotations"): ``prompt_filter_results`` (top level; one entry per prompt, each
``{"prompt_index", "content_filter_results"}``) and, per choice,
``content_filter_results``. The core converter keeps both in ``ChatResponse.extra``
(``prompt_filter_results`` and the first choice's ``content_filter_results``); a stream's
filter-only first chunk and per-chunk results land there too when aggregated.

Each category maps to ``{"filtered": bool, "severity": "safe"|"low"|"medium"|"high"}``
(hate, sexual, violence, self_harm) or ``{"filtered": bool, "detected": bool}``
(jailbreak, protected_material_text, protected_material_code...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

from modelbus.plugin import ChatResponse

__all__ = ["ContentFilterResults", "content_filter"]


def _filtered(categories: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(k for k, v in categories.items() if isinstance(v, Mapping) and v.get("filtered"))


@frozen
class ContentFilterResults:
    """The content filter verdicts of one response.

    ``prompt``: prompt index → categories; ``completion``: the answer's categories;
    ``finish_reason``: ``"content_filter"`` when the answer was cut by the filter.
    """

    prompt: Mapping[int, Mapping[str, Any]] = field(factory=dict)
    completion: Mapping[str, Any] = field(factory=dict)
    finish_reason: str | None = None

    @property
    def filtered(self) -> bool:
        """True when any category of the prompt or the answer was filtered, or the answer
        was stopped by the filter."""
        return bool(self.filtered_categories) or self.finish_reason == "content_filter"

    @property
    def filtered_categories(self) -> tuple[str, ...]:
        """Names of the categories that were filtered (prompt first, then answer)."""
        names = [c for cats in self.prompt.values() for c in _filtered(cats)]
        names += [c for c in _filtered(self.completion) if c not in names]
        return tuple(names)


def content_filter(response: ChatResponse) -> ContentFilterResults | None:
    """The content filter results of ``response``, or ``None`` when the provider sent none
    (OpenAI, local servers)."""
    extra = response.extra
    prompt_raw = extra.get("prompt_filter_results")
    completion = extra.get("content_filter_results")
    if prompt_raw is None and completion is None:
        return None
    prompt: dict[int, Mapping[str, Any]] = {}
    for i, entry in enumerate(prompt_raw or ()):
        if isinstance(entry, Mapping):
            prompt[int(entry.get("prompt_index", i))] = entry.get("content_filter_results") or {}
    return ContentFilterResults(prompt, completion or {}, response.finish_reason)
