"""modelbus-structured-output: Python types as ``response_format``.

::

    @attrs.frozen
    class Invoice:
        number: str
        total_eur: float
        lines: list[Line]

    resp = client.chat("...", response_format=Invoice)        # resp.parsed is an Invoice
    items = client.chat("...", response_format=list[Invoice]).parsed
    for partial in client.stream("...", response_format=Invoice):
        ...                                                    # PartialInvoice..., Invoice
    client.chat("...", response_format=StructuredOutput(Invoice, mode="tools", max_reasks=1))

Options go in the :class:`StructuredOutput` wrapper (the client's parameter check
accepts only OpenAI parameter names, so there is no ``response_mode=``). The schema is
the core's (:func:`modelbus._schema.json_schema`, OpenAI strict mode by default); a root
that is not an attrs class is wrapped (``{"items": [...]}`` for lists, ``{"value": ...}``
otherwise) and unwrapped. Modes and their choice: :mod:`._modes`. Streams and partial
values: :mod:`._stream`, :func:`partial_type`. Errors: ``modelbus.errors.RefusalError``
(a :class:`~modelbus.errors.ResponseFormatError`) for refusals,
:class:`~modelbus.errors.ResponseFormatError` with every attempt's reply and errors when
the re-asks are used up.
"""

from __future__ import annotations

from modelbus.errors import RefusalError, ResponseFormatError

from ._handler import StructuredOutputHandler
from ._partial import partial_type
from ._stream import AsyncStructuredStream, StructuredStream
from ._target import MODES, Mode, StructuredOutput, Target, target_of

__all__ = [
    "MODES",
    "AsyncStructuredStream",
    "Mode",
    "RefusalError",
    "ResponseFormatError",
    "StructuredOutput",
    "StructuredOutputHandler",
    "StructuredStream",
    "Target",
    "partial_type",
    "target_of",
]
