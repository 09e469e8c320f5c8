"""The file side of batches (``modelbus batch IN.jsonl -o OUT.jsonl``): reading the
input, resuming from the output, appending output lines safely. The format is described
in ``modelbus._batch.runner``.

What a resumed run may send again: a request's output line is appended when its answer
(or final error) is in hand, and a persistent cache stores the answer before that, so a
run killed at any instant leaves every request either written (skipped on resume),
answered and cached (served from the cache on resume, not sent), or in flight. Only the
last kind is sent again, and a run has at most ``concurrency`` requests in flight.

One run at a time writes an output file: it is locked (``flock``, POSIX; the kernel
drops the lock when the process dies, even by SIGKILL) before the finished requests are
read from it, so two runs of the same command cannot both do, and both write, the same
request.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

import attrs

from .progress import progress_bar
from .runner import (
    BatchInputError,
    BatchItem,
    BatchResult,
    _check_unique,
    arun_batch,
    parse_line,
    run_batch,
)

if TYPE_CHECKING:
    from .._client import Client

__all__ = ["BatchSummary", "abatch_file", "batch_file", "read_done", "read_items"]


@attrs.frozen
class BatchSummary:
    """What a batch run did: ``total`` input lines, ``skipped`` (already in the output),
    ``succeeded`` and ``failed`` this run, and the output ``path``."""

    total: int
    skipped: int
    succeeded: int
    failed: int
    path: Path | None = None

    def __str__(self) -> str:
        where = f" -> {self.path}" if self.path is not None else ""
        return (
            f"{self.total} requests: {self.succeeded} succeeded, {self.failed} failed, "
            f"{self.skipped} already done{where}"
        )


#: The longest input line read, in bytes (256 MiB: above the OpenAI Batch API's whole
#: input file, 200 MB, so no request a batch can hold is refused).
MAX_LINE_BYTES = 256 * 1024 * 1024


def read_items(path: Path) -> list[BatchItem]:
    """The requests of a JSONL file (blank lines skipped), equal plain messages shared
    (:func:`_share`)."""
    items: list[BatchItem] = []
    seen: dict[tuple[str, str], dict[str, str]] = {}
    # Read as bytes and decoded line by line: a line that is not UTF-8 is that line's
    # error (batch.md: a malformed line becomes an error line), not the whole run's.
    with path.open("rb") as f:
        # readline with a cap: a file with no line ends (``/dev/zero``, a binary file) is
        # refused at the cap instead of being read into memory without end.
        for line_no, raw in enumerate(iter(lambda: f.readline(MAX_LINE_BYTES + 1), b""), 1):
            if len(raw) > MAX_LINE_BYTES:
                raise BatchInputError(
                    f"{path}: line {line_no} is longer than {MAX_LINE_BYTES} bytes: "
                    "not a JSONL file of requests?"
                )
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                problem = f"line {line_no} is not UTF-8 text (byte {exc.start})"
                items.append(BatchItem(len(items), f"line-{line_no}", problem=problem))
                continue
            if not text.strip():
                continue
            item = parse_line(text, line_no, len(items))
            if item.body is not None:
                _share(item.body["messages"], seen)
            items.append(item)
    _check_unique(items, str(path))
    return items


def _share(messages: object, seen: dict[tuple[str, str], dict[str, str]]) -> None:
    """Replace, in a decoded line's ``messages`` list, each plain message
    (``{"role": str, "content": str}``) by the first equal one of the file.

    Why: the lines of a file repeat messages (a system prompt, few-shot examples, the
    same request sampled again), and each decoded line would hold its own copies. Shared,
    a file's repeated text is held once, and a conversation repeated whole is the same
    dicts each time, which the engine's memo of Messages recognises as a conversation
    sent again (``modelbus._wire.message_memo``), as it does for an application looping
    over one list. Safe because nothing writes to these dicts: the engine turns them into
    immutable Messages, and the batch owns them (decoded here)."""
    if type(messages) is not list:
        return
    for i, m in enumerate(messages):
        if type(m) is dict and len(m) == 2:
            role, content = m.get("role"), m.get("content")
            if type(role) is str and type(content) is str:
                messages[i] = seen.setdefault((role, content), m)


def read_done(path: Path) -> set[str]:
    """The custom_ids already in output file ``path`` (none when it does not exist).

    A last line without its newline is the torn write of a crash: it is cut off (and its
    request redone). Any other line that is not JSON raises :class:`BatchInputError`."""
    if not path.exists():
        return set()
    data = path.read_bytes()
    cut = data.rfind(b"\n") + 1
    if cut < len(data):
        with path.open("r+b") as f:
            f.truncate(cut)
        data = data[:cut]
    done: set[str] = set()
    for line_no, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            cid = json.loads(raw)["custom_id"]
        except (ValueError, KeyError, TypeError) as exc:
            raise BatchInputError(
                f"{path} line {line_no} is not an output line ({exc}); fix or remove it"
            ) from None
        done.add(cid)
    return done


# json.dumps with options builds an encoder per call; one per process does for every line.
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


class _Writer:
    """Appends output lines, each flushed to the OS at once (a crash of the process loses
    nothing written; a power cut may lose the page cache's last lines, which a re-run
    then redoes), and counts them."""

    def __init__(self, f: IO[str], after: Callable[[BatchResult], None]) -> None:
        self.f, self.after = f, after
        self.succeeded = self.failed = 0

    def __call__(self, r: BatchResult) -> None:
        self.f.write(_ENCODER.encode(r.to_openai()) + "\n")
        self.f.flush()
        if r.ok:
            self.succeeded += 1
        else:
            self.failed += 1
        self.after(r)


def _lock(f: IO[str], path: Path) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory lock; one run at a time is on the user
        return
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise BatchInputError(
            f"{path} is being written by another modelbus batch run; wait for it to end"
            " (or stop it) before resuming"
        ) from None


@contextmanager
def _plan(
    in_path: Path, out_path: Path
) -> Iterator[tuple[list[BatchItem], list[BatchItem], IO[str]]]:
    """The input items, those not yet in the output, and the output opened for appending
    and locked; the finished requests are read only once the lock is held."""
    items = read_items(in_path)
    with out_path.open("a", encoding="utf-8") as f:
        _lock(f, out_path)
        done = read_done(out_path)
        yield items, [it for it in items if it.custom_id not in done], f


def batch_file(
    c: Client,
    in_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    concurrency: int = 8,
    progress: bool = False,
) -> BatchSummary:
    """Run every request of JSONL ``in_path`` not yet in ``out_path`` and append their
    output lines there (threads; see the module doc). Raises
    :class:`BatchInputError` for a duplicate custom_id, a damaged output file, or an
    output file another run is writing."""
    src, dst = Path(in_path), Path(out_path)
    with _plan(src, dst) as (items, todo, f), progress_bar(len(todo), progress) as tick:
        w = _Writer(f, tick)
        run_batch(c, todo, concurrency=concurrency, on_result=w)
    return BatchSummary(len(items), len(items) - len(todo), w.succeeded, w.failed, dst)


async def abatch_file(
    c: Client,
    in_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    concurrency: int = 8,
    progress: bool = False,
) -> BatchSummary:
    """The async twin of :func:`batch_file` (``concurrency`` tasks)."""
    src, dst = Path(in_path), Path(out_path)
    with _plan(src, dst) as (items, todo, f), progress_bar(len(todo), progress) as tick:
        w = _Writer(f, tick)
        await arun_batch(c, todo, concurrency=concurrency, on_result=w)
    return BatchSummary(len(items), len(items) - len(todo), w.succeeded, w.failed, dst)
