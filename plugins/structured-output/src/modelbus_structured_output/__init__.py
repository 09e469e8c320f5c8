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
the core's (:func:`modelbus.plugin.json_schema`, OpenAI strict mode by default); a root
that is not an attrs class is wrapped (``{"items": [...]}`` for lists, ``{"value": ...}``
otherwise) and unwrapped. Modes and their choice: :mod:`._modes`. Streams and partial
values: :mod:`._stream`, :func:`partial_type`. Errors: ``modelbus.errors.RefusalError``
(a :class:`~modelbus.errors.ResponseFormatError`) for refusals,
:class:`~modelbus.errors.ResponseFormatError` with every attempt's reply and errors when
the re-asks are used up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelbus.plugin import lazy_exports

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

# Names load on first use (PEP 562): plugin discovery imports this package for its
# ``plugin`` module on every ``modelbus.Client()``, which needs none of them.
_LAZY = {
    "MODES": "._target",
    "AsyncStructuredStream": "._stream",
    "Mode": "._target",
    "RefusalError": "modelbus.errors",
    "ResponseFormatError": "modelbus.errors",
    "StructuredOutput": "._target",
    "StructuredOutputHandler": "._handler",
    "StructuredStream": "._stream",
    "Target": "._target",
    "partial_type": "._partial",
    "target_of": "._target",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


if TYPE_CHECKING:
    from modelbus.errors import RefusalError as RefusalError
    from modelbus.errors import ResponseFormatError as ResponseFormatError

    from ._handler import StructuredOutputHandler as StructuredOutputHandler
    from ._partial import partial_type as partial_type
    from ._stream import AsyncStructuredStream as AsyncStructuredStream
    from ._stream import StructuredStream as StructuredStream
    from ._target import MODES as MODES
    from ._target import Mode as Mode
    from ._target import StructuredOutput as StructuredOutput
    from ._target import Target as Target
    from ._target import target_of as target_of
