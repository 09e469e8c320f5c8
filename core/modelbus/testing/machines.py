"""Hypothesis state machines for testing modelbus and apps built on it (needs
``hypothesis``).

- :class:`ClientMachine`: a whole client (cache, single-flight in threads and tasks,
  retries, fallback, a cost budget) against :class:`ClientModel` and
  :class:`BudgetModel`; run it with
  ``TestClient = ClientMachine.TestCase``.
- Caches: :class:`~modelbus.testing.contracts_cache.CacheContract` holds the cache
  state machine.
"""

from __future__ import annotations

from ._client_budget import BudgetModel
from ._client_machine import PROMPTS, ClientMachine, ClientModel, Outcome

__all__ = ["PROMPTS", "BudgetModel", "ClientMachine", "ClientModel", "Outcome"]
