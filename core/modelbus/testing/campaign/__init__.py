"""modelbus's own fault campaign: ``python -m modelbus.testing.campaign [--scale small|full]``.

Runs, against a fault server in its own process
(:mod:`modelbus.testing.campaign.server`, a WireServer drawing faults from a seeded
:class:`FaultPlan` per request id and logging every request), and through public APIs
only (config dicts, ``Client``, ``modelbus batch``, ``modelbus.errors``):

- ``faults``: N requests at a rate of transient faults (500, 429 with ``Retry-After``,
  connection reset, stall) in each mode: chat, achat x 200 tasks, stream, astream x 200
  tasks, chat on 16 threads, ``client.batch``, ``client.abatch``, ``modelbus batch``.
  The requests that fail must be exactly those whose every attempt drew a fault, and
  each request must be sent exactly as many times as the plan says;
- ``redis-outage``: a private redis-server killed under 200 concurrent calls;
- ``shared-rpm``: two processes x 200 concurrent calls under one Redis ``rpm``;
- ``budgets``: 200 tasks and 8 threads under ``max_cost_usd``; two processes sharing a
  Redis budget;
- ``batch-resume``: ``modelbus batch`` SIGKILLed mid-run and resumed;
- ``stalls``: a stalled server and a silent stream, in every mode;
- ``secrets``: a server echoing the API key in its 401 answers.

Each scenario prints its figures (requests, failures expected vs observed, re-sends,
elapsed seconds); the process exits 1 when an assertion does not hold. The figures of a
``full`` run are in docs/how-to/testing.md.
"""

from __future__ import annotations

from ._cli import SCENARIOS, main, run
from ._config import Scale
from ._plan import FaultPlan
from ._report import Report, Row

__all__ = ["SCENARIOS", "FaultPlan", "Report", "Row", "Scale", "main", "run"]
