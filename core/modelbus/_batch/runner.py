"""Running many chat requests with bounded concurrency, resumably (``client.batch``,
``modelbus batch``).

Input lines (JSONL) are either the OpenAI Batch API request shape
``{"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions", "body": {...}}``
or a plain chat body ``{"messages": [...], "model": ..., ...}`` (``custom_id`` optional;
without one a line is named ``line-N``, its 1-based line number). The body's keys are the
``client.chat`` parameters (OpenAI names).

Every input line yields exactly one output line, in the OpenAI batch output shape
``{"id", "custom_id", "response": {"status_code", "body"}, "error"}``: a success has
``response.status_code`` 200 and the ``chat.completion`` body, and ``error: null``; a
failure has ``error = {"code", "message", "type", "attempts": [...]}`` (modelbus's
error type and every attempt's error type, status and delay slept) and, when the
provider answered with an HTTP status, ``response = {"status_code", "body"}`` holding
the provider's error body (else ``null``). Lines are written as requests finish (appended
and flushed one by one, so a crash loses nothing finished); re-running skips every
``custom_id`` already in the output, and a torn last line left by a crash is cut off
and redone. Nothing is lost and nothing is written twice; only the requests in flight
when a run was killed (at most ``concurrency``) may be sent again (the file side, and
why, is in ``modelbus._batch.files``).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .._wire.converter import chat_response_to_openai
from .._wire.types import ChatResponse
from ..errors import ProviderError, RetryError
from .progress import progress_bar

if TYPE_CHECKING:
    from .._client import Client

__all__ = [
    "BatchInputError",
    "BatchItem",
    "BatchResult",
    "abatch",
    "arun_batch",
    "batch",
    "error_object",
    "items_from_requests",
    "parse_line",
    "run_batch",
]

CHAT_URL = "/v1/chat/completions"


@attrs.frozen
class BatchItem:
    """One input request: ``index`` (0-based position), ``custom_id``, the chat ``body``,
    or ``problem`` saying why the line cannot be sent (it then yields an error line)."""

    index: int
    custom_id: str
    body: Mapping[str, Any] | None = None
    problem: str | None = None


@attrs.frozen
class BatchResult:
    """The outcome of one item: ``response`` or ``error`` (never both)."""

    index: int
    custom_id: str
    response: ChatResponse | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_openai(self) -> dict[str, Any]:
        """The output line (see the module doc)."""
        # 32 random hex digits, as uuid4().hex gives, without building a UUID object.
        line_id = f"batch_req_{os.urandom(16).hex()}"
        if self.response is not None:
            return {
                "id": line_id,
                "custom_id": self.custom_id,
                "response": {"status_code": 200, "body": chat_response_to_openai(self.response)},
                "error": None,
            }
        assert self.error is not None
        from .._logging import redact

        # Any error reaches this line, a plugin's own exception text included: secrets
        # are masked before it is written (the error path only, not the answers).
        return {
            "id": line_id,
            "custom_id": self.custom_id,
            "response": redact(_error_response(self.error)),
            "error": redact(error_object(self.error)),
        }


class BatchInputError(ValueError):
    """The input (or existing output) file cannot be used as a whole: duplicate
    ``custom_id``, or an output line that is not JSON. Names the file and the line."""


def _last_error(exc: BaseException) -> BaseException:
    if isinstance(exc, RetryError) and exc.last_error is not None:
        return exc.last_error
    return exc


def _error_response(exc: BaseException) -> dict[str, Any] | None:
    last = _last_error(exc)
    if not isinstance(last, ProviderError) or last.status_code is None:
        return None
    out: dict[str, Any] = {"status_code": last.status_code}
    if last.request_id:
        out["request_id"] = last.request_id
    out["body"] = last.body if last.body is not None else {"error": {"message": last.message}}
    return out


def error_object(exc: BaseException) -> dict[str, Any]:
    """The ``error`` member of a failed output line: ``code`` (the provider's error code,
    else the error type), ``message``, ``type``, ``status_code`` and ``attempts`` (each
    ``{"error_type", "status_code", "delay_s"}``)."""
    last = _last_error(exc)
    if isinstance(exc, RetryError):
        attempts = [
            {"error_type": a.error_type, "status_code": a.status_code, "delay_s": a.delay_s}
            for a in exc.attempts
        ]
    else:
        attempts = [
            {
                "error_type": type(exc).__name__,
                "status_code": getattr(exc, "status_code", None),
                "delay_s": 0.0,
            }
        ]
    code = getattr(last, "code", None) or type(last).__name__
    return {
        "code": code,
        "message": str(exc),
        "type": type(exc).__name__,
        "status_code": getattr(last, "status_code", None),
        "attempts": attempts,
        **({"notes": list(exc.__notes__)} if getattr(exc, "__notes__", None) else {}),
    }


def parse_line(text: str, line_no: int, index: int) -> BatchItem:
    """One JSONL input line (``line_no`` 1-based, for names and messages) → BatchItem. A
    line that cannot be sent becomes an item with a ``problem``, never an exception."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        # RecursionError: nested deeper than the decoder goes ("[[[[..."), still one line
        return BatchItem(index, f"line-{line_no}", problem=f"line {line_no} is not JSON: {exc}")
    if not isinstance(obj, dict):
        return BatchItem(index, f"line-{line_no}", problem=f"line {line_no} is not a JSON object")
    return _item(obj, line_no, index)


def _item(obj: Mapping[str, Any], line_no: int, index: int) -> BatchItem:
    """A request object (a decoded line, or a ``client.batch`` dict) → BatchItem. The body
    holds the object's own values (not copies): the messages reach ``chat`` as given."""
    default_id = f"line-{line_no}"
    cid = obj.get("custom_id", default_id)
    if not isinstance(cid, str) or not cid:
        return BatchItem(
            index, default_id, problem=f"line {line_no}: custom_id must be a non-empty string"
        )
    if "body" in obj or "url" in obj:
        url = obj.get("url", CHAT_URL)
        if url != CHAT_URL:
            return BatchItem(
                index,
                cid,
                problem=f"line {line_no}: url {url!r} is not supported (only {CHAT_URL})",
            )
        if obj.get("method", "POST") != "POST":
            return BatchItem(index, cid, problem=f"line {line_no}: method must be POST")
        body = obj.get("body")
    else:
        body = {k: v for k, v in obj.items() if k != "custom_id"}
    if not isinstance(body, Mapping) or "messages" not in body:
        return BatchItem(index, cid, problem=f"line {line_no}: the body needs 'messages'")
    return BatchItem(index, cid, body)


def items_from_requests(requests: Iterable[Any]) -> list[BatchItem]:
    """``client.batch`` input → items: each a chat body or batch-line dict (see the module
    doc) or a prompt string. Raises :class:`BatchInputError` for a duplicate custom_id and
    ``TypeError`` for a request that is not one of those or holds a value JSON cannot
    hold (what a batch file could not say either).

    A request's values are handed to ``chat`` as they are, not copied: a conversation
    passed in many requests is the same objects each time, as in a loop calling ``chat``
    (the engine's memo of Messages then hits, ``modelbus._wire.message_memo``)."""
    items = []
    for i, r in enumerate(requests):
        if isinstance(r, str):
            items.append(BatchItem(i, f"line-{i + 1}", {"messages": r}))
        elif isinstance(r, Mapping):
            # Only the check the JSON lines get for free: the text is dropped.
            json.dumps(r, default=_not_json)
            items.append(_item(r, i + 1, i))
        else:
            raise TypeError(
                f"batch request {i} must be a dict or a prompt string, got {type(r).__name__}"
            )
    _check_unique(items, "requests")
    return items


def _not_json(value: Any) -> Any:
    raise TypeError(f"batch bodies must be JSON values, got {type(value).__name__}")


def _check_unique(items: Iterable[BatchItem], where: str) -> None:
    seen: dict[str, int] = {}
    for it in items:
        if it.custom_id in seen:
            raise BatchInputError(
                f"{where}: custom_id {it.custom_id!r} is used by requests {seen[it.custom_id] + 1}"
                f" and {it.index + 1}; every request needs its own"
            )
        seen[it.custom_id] = it.index


def _chat_args(c: Client, item: BatchItem) -> dict[str, Any]:
    if item.problem is not None:
        raise ValueError(item.problem)
    assert item.body is not None
    body = dict(item.body)
    if body.pop("stream", False):
        raise ValueError(f"{item.custom_id}: stream=true is not supported in a batch")
    body.pop("stream_options", None)
    return body


def _run_one(c: Client, item: BatchItem) -> BatchResult:
    try:
        body = _chat_args(c, item)
        resp = c.chat(body.pop("messages"), model=body.pop("model", None), **body)
        return BatchResult(item.index, item.custom_id, response=resp)
    except Exception as exc:  # one bad request must not stop the batch: it is its line
        return BatchResult(item.index, item.custom_id, error=exc)


async def _arun_one(c: Client, item: BatchItem) -> BatchResult:
    try:
        body = _chat_args(c, item)
        resp = await c.achat(body.pop("messages"), model=body.pop("model", None), **body)
        return BatchResult(item.index, item.custom_id, response=resp)
    except Exception as exc:
        return BatchResult(item.index, item.custom_id, error=exc)


def _check_concurrency(concurrency: int) -> None:
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")


def run_batch(
    c: Client,
    items: Iterable[BatchItem],
    *,
    concurrency: int = 8,
    on_result: Callable[[BatchResult], None],
) -> None:
    """Run ``items`` on ``concurrency`` threads; ``on_result`` gets each result as it
    finishes (called under a lock, one at a time). An exception that is not an
    ``Exception`` (``KeyboardInterrupt``) stops every worker after its current request
    and is raised; results already handed to ``on_result`` stay handed."""
    _check_concurrency(concurrency)
    source = iter(items)
    take, give = threading.Lock(), threading.Lock()
    stop = threading.Event()
    failures: list[BaseException] = []

    def worker() -> None:
        while not stop.is_set():
            with take:
                item = next(source, None)
            if item is None:
                return
            try:
                result = _run_one(c, item)
                with give:
                    on_result(result)
            except BaseException as exc:
                failures.append(exc)
                stop.set()
                return

    threads = [
        threading.Thread(target=worker, name=f"modelbus-batch-{i}", daemon=True)
        for i in range(concurrency)
    ]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()
    except BaseException:
        stop.set()
        raise
    if failures:
        raise failures[0]


async def arun_batch(
    c: Client,
    items: Iterable[BatchItem],
    *,
    concurrency: int = 8,
    on_result: Callable[[BatchResult], None],
) -> None:
    """The async twin of :func:`run_batch`: ``concurrency`` tasks share the items."""
    _check_concurrency(concurrency)
    source = iter(items)

    async def worker() -> None:
        for item in source:  # one event loop thread: the shared iterator needs no lock
            on_result(await _arun_one(c, item))

    try:
        async with asyncio.TaskGroup() as tg:
            for _ in range(concurrency):
                tg.create_task(worker())
    except BaseExceptionGroup as group:
        # One worker failed outside a request (the output file): raise that, not a group.
        raise group.exceptions[0] from None


def batch(
    c: Client, requests: Iterable[Any], *, concurrency: int = 8, progress: bool = False
) -> list[BatchResult]:
    """``client.batch``: every request's :class:`BatchResult`, in input order."""
    items = items_from_requests(requests)
    results: list[BatchResult | None] = [None] * len(items)
    with progress_bar(len(items), progress) as tick:

        def keep(r: BatchResult) -> None:
            results[r.index] = r
            tick(r)

        run_batch(c, items, concurrency=concurrency, on_result=keep)
    return [r for r in results if r is not None]


async def abatch(
    c: Client, requests: Iterable[Any], *, concurrency: int = 8, progress: bool = False
) -> list[BatchResult]:
    """``client.abatch``: the async twin of :func:`batch`."""
    items = items_from_requests(requests)
    results: list[BatchResult | None] = [None] * len(items)
    with progress_bar(len(items), progress) as tick:

        def keep(r: BatchResult) -> None:
            results[r.index] = r
            tick(r)

        await arun_batch(c, items, concurrency=concurrency, on_result=keep)
    return [r for r in results if r is not None]
