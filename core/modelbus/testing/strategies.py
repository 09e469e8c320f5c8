"""Hypothesis strategies for testing modelbus apps and plugins (needs ``hypothesis``).

- chat: :func:`messages`, :func:`chat_requests`, :func:`tool_specs`;
- errors and retry hints: :func:`retryable_errors`, :func:`non_retryable_errors`,
  :func:`provider_errors`, :func:`retry_after_headers` (with :data:`FIXED_NOW`);
- fault scripts for a ``FakeProvider``: :func:`fake_replies`, :func:`fault_scripts`;
- concurrency: :func:`interleavings`, played by :class:`Turns`.
"""

from __future__ import annotations

from ._chat_strategies import chat_requests, messages, tool_specs
from ._fault_strategies import Turns, fake_replies, fault_scripts, interleavings
from ._retry_strategies import (
    FIXED_NOW,
    non_retryable_errors,
    provider_errors,
    retry_after_headers,
    retryable_errors,
)

__all__ = [
    "FIXED_NOW",
    "Turns",
    "chat_requests",
    "fake_replies",
    "fault_scripts",
    "interleavings",
    "messages",
    "non_retryable_errors",
    "provider_errors",
    "retry_after_headers",
    "retryable_errors",
    "tool_specs",
]
